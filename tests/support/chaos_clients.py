"""Chaos clients: seeded threads that send overlapping batch, single-instance and batch-action requests over HTTP."""
from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests

from tests.support.chaos_pool import Definition, Pool, Recorder

R = "/engine-rest"


def camunda_now() -> str:
    """Now as a Camunda date (yyyy-MM-dd'T'HH:mm:ss.SSSZ)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


@dataclass
class Api:
    """One client's HTTP session: Basic auth (cheap with the test hasher) or a form login with CSRF."""

    base_url: str
    username: str
    password: str
    recorder: Recorder
    session_login: bool = False
    timeout: float = 60.0
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        if not self.session_login:
            self.session.auth = (self.username, self.password)
            return
        url = f"{self.base_url}/accounts/login/"
        self.session.get(url, timeout=self.timeout)
        token = self.session.cookies.get("csrftoken", "")
        form = {"username": self.username, "password": self.password, "csrfmiddlewaretoken": token}
        self.session.post(url, data=form, headers={"Referer": url}, timeout=self.timeout)
        if "sessionid" not in self.session.cookies:
            raise RuntimeError(f"chaos client could not log in as {self.username}")

    def call(self, kind: str, method: str, path: str, *, json: object = None, params: dict | None = None,
             target: str | None = None) -> requests.Response | None:
        """Send one request and record it; None when no response came (timeout, connection error)."""
        headers = {}
        if self.session_login and method != "GET":
            headers = {"X-CSRFToken": self.session.cookies.get("csrftoken", ""), "Referer": f"{self.base_url}/"}
        started = time.monotonic()
        try:
            response = self.session.request(method, f"{self.base_url}{R}/{path}", json=json, params=params,
                                            headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            self.recorder.record(kind, None, time.monotonic() - started, error=f"{type(exc).__name__}: {exc}")
            return None
        self.recorder.record(kind, response, time.monotonic() - started, target=target)
        return response


class ChaosClient(threading.Thread):
    """Sends random requests until stopped; every choice comes from random.Random(f"chaos-{seed}-{index}")."""

    def __init__(self, index: int, seed: int, api_factory: Callable[[], Api], pool: Pool, recorder: Recorder,
                 stop: threading.Event, only: tuple[str, ...] | None = None) -> None:
        super().__init__(name=f"chaos-client-{index}", daemon=True)
        self.index, self.seed = index, seed
        self.rng = random.Random(f"chaos-{seed}-{index}")
        self.api_factory = api_factory
        self.pool, self.recorder, self.stop = pool, recorder, stop
        self.sent = 0
        self.operations: list[tuple[Callable[[], None], int]] = [
            (self.cancel_batch, 4), (self.historic_delete_batch, 3), (self.job_retries_batch, 4),
            (self.process_job_retries_batch, 3), (self.modification_batch, 6), (self.suspension_batch, 6),
            (self.complete_task, 10), (self.suspend_instance, 8), (self.delete_instance, 5),
            (self.modify_instance, 8), (self.job_retries, 5), (self.suspend_batch, 4), (self.delete_batch, 2),
        ]
        if only:
            unknown = set(only) - {action.__name__ for action, _ in self.operations}
            if unknown:
                raise ValueError(f"unknown chaos operations: {sorted(unknown)}")
            self.operations = [(action, weight) for action, weight in self.operations if action.__name__ in only]

    def run(self) -> None:
        try:
            self.api = self.api_factory()
        except Exception as exc:
            self.recorder.harness_error(f"{self.name} could not log in: {type(exc).__name__}: {exc}")
            return
        actions, weights = zip(*self.operations, strict=True)
        try:
            while not self.stop.is_set():
                action = self.rng.choices(actions, weights)[0]
                try:
                    action()
                except Exception as exc:  # a harness bug must show, not silently end the thread
                    self.recorder.harness_error(f"{self.name} {action.__name__}: {type(exc).__name__}: {exc}")
                self.stop.wait(self.rng.uniform(0, 0.05))
        finally:
            self.api.session.close()  # the server closes its database connection with the HTTP one

    # --- selections ---------------------------------------------------------------------------
    def reason(self) -> str:
        self.sent += 1
        return f"chaos-{self.seed}-{self.index}-{self.sent}"

    def instance_ids(self, low: int = 2, high: int = 12) -> list[str]:
        return self.pool.pick(self.rng, self.rng.randint(low, high))

    def instance_id(self) -> str:
        return self.pool.pick(self.rng)[0]

    def definition(self) -> Definition:
        return self.rng.choice(list(self.pool.definitions.values()))

    def business_key_part(self) -> str | None:
        """A part of the demo business keys (INV-0000123): 10 or 100 instances across keys, sometimes all."""
        roll = self.rng.random()
        if roll < 0.05:
            return None
        width = 6 if roll < 0.5 else 5
        return f"{self.rng.randrange(max(1, self.pool.size // (10 ** (7 - width)) + 1)):0{width}d}"

    def instance_query(self, definition: Definition | None = None, *, by_id: bool = False) -> dict:
        d = definition or self.definition()
        query: dict = {"processDefinitionId": d.id} if by_id else {"processDefinitionKey": d.key}
        if self.rng.random() < 0.6:
            query["activityIdIn"] = [self.rng.choice(d.user_tasks + d.service_tasks)]
        roll = self.rng.random()
        if roll < 0.25:
            query["suspended"] = True
        elif roll < 0.5:
            query["active"] = True
        part = self.business_key_part()
        if part is not None:
            query["businessKeyLike"] = f"%{part}%"
        return query

    def instructions(self, d: Definition) -> list[dict]:
        user = self.rng.choice(d.user_tasks)
        other = self.rng.choice(d.user_tasks)
        service = self.rng.choice(d.service_tasks)
        choices = [
            [{"type": "cancel", "activityId": user}, {"type": "startBeforeActivity", "activityId": other}],
            [{"type": "cancel", "activityId": user}, {"type": "startBeforeActivity", "activityId": service}],
            [{"type": "startBeforeActivity", "activityId": service}],
            [{"type": "cancel", "activityId": service}, {"type": "startBeforeActivity", "activityId": user}],
            [{"type": "cancel", "activityId": user}],
        ]
        return self.rng.choices(choices, [3, 4, 2, 2, 1])[0]

    def retries_body(self) -> dict:
        body: dict = {"retries": self.rng.randint(1, 3)}
        if self.rng.random() < 0.5:
            body["dueDate"] = camunda_now()  # makes scheduled jobs due: the executor works during the chaos
        return body

    def created(self, kind: str, response: requests.Response | None, reason: str | None = None) -> None:
        if response is not None and response.status_code == 200:
            self.recorder.batch_created(response.json()["id"], kind, reason)

    # --- batch creations -------------------------------------------------------------------------
    def cancel_batch(self) -> None:
        reason = self.reason()
        body: dict = {"deleteReason": reason}
        if self.rng.random() < 0.7:
            body["processInstanceIds"] = self.instance_ids()
        if "processInstanceIds" not in body or self.rng.random() < 0.3:
            query = self.instance_query()
            query["businessKeyLike"] = f"%{self.rng.randrange(self.pool.size // 10 + 1):06d}%"  # 10 instances at most
            body["processInstanceQuery"] = query
        kind = "POST /process-instance/delete"
        self.created(kind, self.api.call(kind, "POST", "process-instance/delete", json=body), reason)

    def historic_delete_batch(self) -> None:
        body: dict = {"deleteReason": self.reason(), "failIfNotExists": self.rng.random() < 0.2}
        if self.rng.random() < 0.6:
            body["historicProcessInstanceIds"] = self.instance_ids()
        else:
            query = {"processDefinitionKey": self.definition().key, "finished": True}
            part = self.business_key_part()
            if part is not None:
                query["processInstanceBusinessKeyLike"] = f"%{part}%"
            body["historicProcessInstanceQuery"] = query
        kind = "POST /history/process-instance/delete"
        self.created(kind, self.api.call(kind, "POST", "history/process-instance/delete", json=body))

    def job_retries_batch(self) -> None:
        body = self.retries_body()
        roll = self.rng.random()
        if roll < 0.5 and self.pool.jobs:
            body["jobIds"] = self.rng.sample(self.pool.jobs, min(len(self.pool.jobs), self.rng.randint(1, 15)))
        elif roll < 0.85:
            body["jobQuery"] = {"processDefinitionKey": self.definition().key, "noRetriesLeft": self.rng.random() < 0.5}
        else:
            body["jobQuery"] = {"noRetriesLeft": True}  # failed batch jobs too: "retry all failed"
        kind = "POST /job/retries"
        self.created(kind, self.api.call(kind, "POST", "job/retries", json=body))

    def process_job_retries_batch(self) -> None:
        body = self.retries_body()
        if self.rng.random() < 0.6:
            body["processInstances"] = self.instance_ids()
        else:
            body["processInstanceQuery"] = self.instance_query()
        kind = "POST /process-instance/job-retries"
        self.created(kind, self.api.call(kind, "POST", "process-instance/job-retries", json=body))

    def modification_batch(self) -> None:
        d = self.pool.definitions[self.pool.definition_of[self.instance_id()]]
        body: dict = {"processDefinitionId": d.id, "instructions": self.instructions(d), "annotation": self.reason()}
        if self.rng.random() < 0.6:
            hot = [i for i in self.pool.hot_window() if self.pool.definition_of[i] == d.id]
            own = hot if hot and self.rng.random() < 0.7 else self.pool.instances_of(d.id)
            ids = self.rng.sample(own, min(len(own), self.rng.randint(2, 12)))
            body["processInstanceIds"] = ids + self.instance_ids(0, 2)  # a few of other definitions: skipped
        else:
            body["processInstanceQuery"] = self.instance_query(d, by_id=True)
        kind = "POST /modification/executeAsync"
        self.created(kind, self.api.call(kind, "POST", "modification/executeAsync", json=body))

    def suspension_batch(self) -> None:
        body: dict = {"suspended": self.rng.random() < 0.5}
        if self.rng.random() < 0.6:
            body["processInstanceIds"] = self.instance_ids()
        else:
            body["processInstanceQuery"] = self.instance_query()
        kind = "POST /process-instance/suspended-async"
        self.created(kind, self.api.call(kind, "POST", "process-instance/suspended-async", json=body))

    # --- single-instance calls ---------------------------------------------------------------------
    def complete_task(self) -> None:
        instance_id = self.instance_id()
        response = self.api.call("GET /task", "GET", "task", params={"processInstanceId": instance_id})
        if response is None or response.status_code != 200 or not response.json():
            return
        task = self.rng.choice(response.json())
        body = {}
        if self.rng.random() < 0.2:
            body["variables"] = {"approved": {"value": False, "type": "Boolean"}}
        self.api.call("POST /task/{id}/complete", "POST", f"task/{task['id']}/complete", json=body, target=instance_id)

    def suspend_instance(self) -> None:
        instance_id = self.instance_id()
        self.api.call("PUT /process-instance/{id}/suspended", "PUT", f"process-instance/{instance_id}/suspended",
                      json={"suspended": self.rng.random() < 0.5}, target=instance_id)

    def delete_instance(self) -> None:
        instance_id, reason = self.instance_id(), self.reason()
        response = self.api.call("DELETE /process-instance/{id}", "DELETE", f"process-instance/{instance_id}",
                                 params={"deleteReason": reason}, target=instance_id)
        if response is not None and response.status_code == 204:
            self.recorder.cancelled(instance_id, reason, time.time())

    def modify_instance(self) -> None:
        instance_id = self.instance_id()
        d = self.pool.definitions[self.pool.definition_of[instance_id]]
        body = {"instructions": self.instructions(d), "annotation": self.reason()}
        self.api.call("POST /process-instance/{id}/modification", "POST",
                      f"process-instance/{instance_id}/modification", json=body, target=instance_id)

    def job_retries(self) -> None:
        roll = self.rng.random()
        if roll < 0.4:
            params = {"processInstanceId": self.instance_id()}
        elif roll < 0.7:
            params = {"noRetriesLeft": "true", "maxResults": "20"}
        else:
            params = {"processDefinitionKey": self.definition().key, "maxResults": "20"}
        response = self.api.call("GET /job", "GET", "job", params=params)
        if response is None or response.status_code != 200 or not response.json():
            return
        job = self.rng.choice(response.json())
        if job.get("processInstanceId"):
            self.pool.add_job(job["id"])
        self.api.call("PUT /job/{id}/retries", "PUT", f"job/{job['id']}/retries", json=self.retries_body())

    # --- batch actions -------------------------------------------------------------------------
    def recent_batch(self) -> str | None:
        batches = self.pool.batches[-20:]
        return self.rng.choice(batches) if batches else None

    def suspend_batch(self) -> None:
        batch_id = self.recent_batch()
        if batch_id:
            self.api.call("PUT /batch/{id}/suspended", "PUT", f"batch/{batch_id}/suspended",
                          json={"suspended": self.rng.random() < 0.6})

    def delete_batch(self) -> None:
        batch_id = self.recent_batch()
        if batch_id is None:
            return
        cascade = self.rng.random() < 0.5
        response = self.api.call("DELETE /batch/{id}", "DELETE", f"batch/{batch_id}",
                                 params={"cascade": "true" if cascade else "false"})
        if response is not None and response.status_code == 204 and cascade:
            self.recorder.batch_cascaded(batch_id)
