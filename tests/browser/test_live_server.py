"""The browser tests' server closes a response whose connection the browser dropped (as gunicorn does)."""

from tests.browser.conftest import _RESPONSE, _ClosingRequestHandler, _keeping_the_response


class Response:
    closed = False

    def __iter__(self):
        return iter([b"<svg/>"])

    def close(self):
        self.closed = True


def test_a_response_whose_connection_dropped_is_closed():
    response = Response()
    environ = {}
    app = _keeping_the_response(lambda environ, start_response: response)
    assert app(environ, None) is response and environ[_RESPONSE] is response
    handler = _ClosingRequestHandler.__new__(_ClosingRequestHandler)  # no socket needed to tell it a drop
    handler.connection_dropped(BrokenPipeError(), environ)
    assert response.closed and _RESPONSE not in environ
    handler.connection_dropped(BrokenPipeError(), None)  # a drop before the app answered: nothing to close
