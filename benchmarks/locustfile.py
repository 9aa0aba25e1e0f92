"""Pages under concurrent clients (run by benchmarks.harness through locust, headless, on loopback).

Each simulated user logs in once with the page form (CSRF token included), then requests the pages named in
BENCH_PAGES ("name=path,name=path,..."), one after the other, as fast as the server answers.
"""

from __future__ import annotations

import os
import re

from locust import HttpUser, task

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _pages() -> list[tuple[str, str]]:
    return [tuple(item.split("=", 1)) for item in os.environ["BENCH_PAGES"].split(",") if item]


class Reader(HttpUser):
    def on_start(self):
        if not os.environ.get("BENCH_EMAIL"):
            return
        page = self.client.get("/login", name="login form")
        token = CSRF.search(page.text)
        self.client.post(
            "/login",
            data={
                "email": os.environ["BENCH_EMAIL"],
                "password": os.environ["BENCH_PASSWORD"],
                "csrf_token": token.group(1) if token else "",
            },
            name="login",
            allow_redirects=False,  # the home page is measured on its own
        )

    @task
    def pages(self):
        for name, path in _pages():
            self.client.get(path, name=name)
