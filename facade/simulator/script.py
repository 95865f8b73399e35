"""Scripted behaviours of the DMP simulator: a queue consumed one step per ITI-41 request, then a default.

A step is ``ok`` (process normally), ``busy`` (XDSRegistryBusy; ``repository-busy`` gives XDSRepositoryBusy),
``metadata-error`` (XDSRegistryMetadataError), ``unknown-patient`` (XDSUnknownPatientId), ``soap-fault`` (SOAP 1.2
Fault env:Receiver), ``slow`` (wait ``seconds`` then process normally) or ``drop`` (close the connection after reading
the request, without answering). Text form: ``"busy"``, ``"slow:2.5"``; JSON form: ``{"behaviour": "slow",
"seconds": 2.5}``.

The script (remaining queue, default, unknown INS set) is persisted in ``STATE/script.json`` at every change, so a
restarted simulator resumes the same script: a vendor scripting "busy, busy, ok" and restarting in between still gets
the remaining steps (choice documented in the simulator README section of the report).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

DEFAULT_SLOW_SECONDS = 5.0


class Behaviour(StrEnum):
    OK = "ok"
    BUSY = "busy"
    REPOSITORY_BUSY = "repository-busy"
    METADATA_ERROR = "metadata-error"
    UNKNOWN_PATIENT = "unknown-patient"
    SOAP_FAULT = "soap-fault"
    SLOW = "slow"
    DROP = "drop"


class ScriptError(ValueError):
    """A script given over the admin API or the Python API is malformed."""


@dataclass(frozen=True)
class Step:
    behaviour: Behaviour
    seconds: float | None = None  # only for SLOW

    @property
    def delay(self) -> float:
        if self.behaviour is not Behaviour.SLOW:
            return 0.0
        return DEFAULT_SLOW_SECONDS if self.seconds is None else self.seconds

    def to_json(self) -> str | dict[str, Any]:
        if self.seconds is None:
            return self.behaviour.value
        return {"behaviour": self.behaviour.value, "seconds": self.seconds}

    @classmethod
    def parse(cls, value: Step | str | Mapping[str, Any]) -> Step:
        if isinstance(value, Step):
            return value
        seconds: Any = None
        if isinstance(value, str):
            name, _, arg = value.partition(":")
            seconds = arg or None
        elif isinstance(value, Mapping):
            name = value.get("behaviour", value.get("behavior"))
            seconds = value.get("seconds")
            extra = set(value) - {"behaviour", "behavior", "seconds"}
            if extra:
                raise ScriptError(f"unknown step fields {sorted(extra)}")
        else:
            raise ScriptError(f"a step is a string or an object, not {type(value).__name__}")
        try:
            behaviour = Behaviour(str(name).strip().lower())
        except ValueError:
            raise ScriptError(f"unknown behaviour {name!r}; known: {[b.value for b in Behaviour]}") from None
        if seconds is not None:
            if behaviour is not Behaviour.SLOW:
                raise ScriptError(f"only 'slow' takes seconds, not {behaviour.value!r}")
            try:
                seconds = float(seconds)
            except (TypeError, ValueError):
                raise ScriptError(f"seconds must be a number, not {seconds!r}") from None
            if not 0 <= seconds <= 3600:
                raise ScriptError("seconds must be between 0 and 3600")
        return cls(behaviour, seconds)


@dataclass(frozen=True)
class ScriptState:
    queue: tuple[Step, ...] = ()
    default: Step = Step(Behaviour.OK)
    unknown_ins: frozenset[str] = frozenset()  # INS values answered XDSUnknownPatientId

    def to_json(self) -> dict[str, Any]:
        return {
            "queue": [s.to_json() for s in self.queue],
            "default": self.default.to_json(),
            "unknown_ins": sorted(self.unknown_ins),
        }


class Script:
    """Thread-safe (tests drive it from the test thread while uvicorn runs in another) and persisted."""

    def __init__(self, path: Path | None, *, unknown_ins: Iterable[str] = ()) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._state = ScriptState(unknown_ins=frozenset(unknown_ins))
        if path is not None and path.is_file():
            saved = _parse_state(json.loads(path.read_text(encoding="utf-8")), self._state)
            # INS configured at start-up stay unknown even if the saved script did not list them
            self._state = ScriptState(saved.queue, saved.default, saved.unknown_ins | self._state.unknown_ins)

    @property
    def state(self) -> ScriptState:
        with self._lock:
            return self._state

    def set(
        self,
        queue: Sequence[Step | str | Mapping[str, Any]] | None = None,
        *,
        default: Step | str | Mapping[str, Any] | None = None,
        unknown_ins: Iterable[str] | None = None,
    ) -> ScriptState:
        """Replace the parts given (None = keep). Validates everything before changing anything."""
        with self._lock:
            state = self._state
            new = ScriptState(
                queue=state.queue if queue is None else tuple(Step.parse(s) for s in queue),
                default=state.default if default is None else Step.parse(default),
                unknown_ins=state.unknown_ins if unknown_ins is None else frozenset(unknown_ins),
            )
            self._store(new)
            return new

    def update_from_json(self, payload: Any) -> ScriptState:
        """``POST /_simulator/script`` body: a list (= the queue) or {"queue", "default", "unknown_ins"}."""
        if isinstance(payload, list):
            return self.set(payload)
        if not isinstance(payload, dict):
            raise ScriptError("the script is a JSON list of steps or an object {queue, default, unknown_ins}")
        extra = set(payload) - {"queue", "default", "unknown_ins"}
        if extra:
            raise ScriptError(f"unknown fields {sorted(extra)}")
        queue = payload.get("queue")
        if queue is not None and not isinstance(queue, list):
            raise ScriptError("queue must be a list")
        unknown = payload.get("unknown_ins")
        if unknown is not None and not (isinstance(unknown, list) and all(isinstance(i, str) for i in unknown)):
            raise ScriptError("unknown_ins must be a list of strings")
        return self.set(queue, default=payload.get("default"), unknown_ins=unknown)

    def reset(self) -> ScriptState:
        return self.set([], default=Step(Behaviour.OK), unknown_ins=())

    def next_step(self) -> Step:
        """Consume the head of the queue (persisted before the request is answered), else the default."""
        with self._lock:
            state = self._state
            if not state.queue:
                return state.default
            self._store(ScriptState(state.queue[1:], state.default, state.unknown_ins))
            return state.queue[0]

    def is_unknown(self, ins: str) -> bool:
        with self._lock:
            return ins in self._state.unknown_ins

    def _store(self, state: ScriptState) -> None:
        self._state = state
        if self._path is not None:
            tmp = self._path.with_suffix(".tmp")
            tmp.write_text(json.dumps(state.to_json(), indent=2), encoding="utf-8")
            os.replace(tmp, self._path)


def _parse_state(payload: Any, fallback: ScriptState) -> ScriptState:
    if not isinstance(payload, dict):
        return fallback
    return ScriptState(
        queue=tuple(Step.parse(s) for s in payload.get("queue", [])),
        default=Step.parse(payload.get("default", "ok")),
        unknown_ins=frozenset(payload.get("unknown_ins", [])),
    )
