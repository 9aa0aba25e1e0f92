"""Login throttling counts failures per account and per address, in storage every worker shares: guessing is slowed
down, and nobody's failures from another address, or on another account, block a right password."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis

from tests import factories
from tests.conftest import DATABASE_URL, login, make_app

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/13"  # a database of the test suite's own


def _client(app, address: str):
    client = app.test_client()
    client.environ_base["HTTP_X_FORWARDED_FOR"] = address
    return client


def _failures(client, email: str, count: int) -> list[int]:
    return [login(client, email, f"wrong-password-{i}").status_code for i in range(count)]


@pytest.fixture
def behind_proxy(db):
    """The app behind the documented reverse proxy, with two accounts."""
    factories.user("buyer", email="anne@chu.example.fr")
    factories.user("buyer", email="paul@chu.example.fr")
    db.session.commit()
    return make_app(TRUSTED_PROXIES=1)


def test_failures_on_another_account_from_the_same_address_do_not_block_a_right_password(behind_proxy):
    office = _client(behind_proxy, "198.51.100.20")  # one address for the whole office, as behind a NAT
    assert _failures(office, "paul@chu.example.fr", 6) == [401] * 5 + [429]
    assert login(office, "anne@chu.example.fr").status_code == 302


def test_failures_from_another_address_do_not_block_a_right_password(behind_proxy):
    attacker = _client(behind_proxy, "203.0.113.66")
    assert _failures(attacker, "anne@chu.example.fr", 8)[-1] == 429
    assert login(attacker, "anne@chu.example.fr").status_code == 429  # the guesser gets nothing more
    assert login(_client(behind_proxy, "198.51.100.7"), "anne@chu.example.fr").status_code == 302


def test_one_account_gets_a_few_failures_per_address_then_even_the_right_password_waits(behind_proxy):
    client = _client(behind_proxy, "198.51.100.7")
    assert _failures(client, "anne@chu.example.fr", 6) == [401] * 5 + [429]
    refused = login(client, "anne@chu.example.fr")
    assert refused.status_code == 429 and "Trop de tentatives" in refused.get_data(as_text=True)


def test_one_address_trying_many_accounts_is_stopped_after_twenty_failures(behind_proxy):
    sprayer = _client(behind_proxy, "203.0.113.99")
    statuses = [login(sprayer, f"user{i}@chu.example.fr", "Password123").status_code for i in range(21)]
    assert statuses == [401] * 20 + [429]
    assert login(sprayer, "anne@chu.example.fr").status_code == 429
    assert login(_client(behind_proxy, "198.51.100.7"), "anne@chu.example.fr").status_code == 302


def test_the_login_page_and_the_token_endpoint_count_the_same_failures(behind_proxy):
    client = _client(behind_proxy, "198.51.100.7")
    assert _failures(client, "anne@chu.example.fr", 3) == [401] * 3
    tokens = [
        client.post("/api/v1/tokens", json={"email": "Anne@chu.example.fr ", "password": "nope"}).status_code
        for _ in range(3)
    ]
    assert tokens == [401, 401, 429]  # the account's fifth failure was its last one


def test_successful_logins_are_not_counted_as_failures(behind_proxy):
    for _ in range(7):
        assert login(_client(behind_proxy, "198.51.100.7"), "anne@chu.example.fr").status_code == 302
    assert _failures(_client(behind_proxy, "198.51.100.7"), "anne@chu.example.fr", 5) == [401] * 5


# A second process of the app, as a second gunicorn worker or machine: its failed logins for `email`, printed.
WORKER = """
import json, os, sys
os.environ["MUTUALIS_ENV"] = "test"
from app import create_app
from tests.conftest import login
settings = json.loads(sys.argv[1])
app = create_app(settings["config"])
client = app.test_client()
client.environ_base["HTTP_X_FORWARDED_FOR"] = settings["address"]
print(json.dumps([login(client, settings["email"], "wrong-%d" % i).status_code for i in range(settings["count"])]))
"""


def _other_worker(storage: str, prefix: str, count: int) -> list[int]:
    config = {
        "SQLALCHEMY_DATABASE_URI": DATABASE_URL,
        "RATELIMIT_STORAGE_URI": storage,
        "RATELIMIT_KEY_PREFIX": prefix,
        "TRUSTED_PROXIES": 1,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    }
    settings = {"config": config, "address": "198.51.100.7", "email": "anne@chu.example.fr", "count": count}
    result = subprocess.run(  # noqa: S603 - this interpreter, running the project's own code
        [sys.executable, "-c", WORKER, json.dumps(settings)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def redis_prefix():
    prefix = f"mutualis-test-{uuid.uuid4().hex}"
    yield prefix
    store = redis.Redis.from_url(REDIS_URL)
    for key in store.scan_iter(f"*{prefix}*"):
        store.delete(key)
    store.close()


def test_two_processes_share_the_failure_counters_through_redis(db, redis_prefix):
    factories.user("buyer", email="anne@chu.example.fr")
    db.session.commit()
    app = make_app(TRUSTED_PROXIES=1, RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_KEY_PREFIX=redis_prefix)
    assert _other_worker(REDIS_URL, redis_prefix, 3) == [401] * 3
    assert _failures(_client(app, "198.51.100.7"), "anne@chu.example.fr", 3) == [401, 401, 429]


def test_without_a_shared_store_each_process_counts_alone(db, redis_prefix):
    """The control: with each worker's memory as the store, the other process's failures are not seen."""
    factories.user("buyer", email="anne@chu.example.fr")
    db.session.commit()
    app = make_app(TRUSTED_PROXIES=1)
    assert _other_worker("memory://", redis_prefix, 3) == [401] * 3
    assert _failures(_client(app, "198.51.100.7"), "anne@chu.example.fr", 3) == [401] * 3
