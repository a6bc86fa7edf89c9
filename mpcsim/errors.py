"""Typed errors raised by mpcsim, one hierarchy under MPCError.

Every error carries structured fields (machine, round_idx, words, cap, ...) and a message that
says what failed, the limit, and what to change. Errors survive pickling with their fields,
so the Ray backend re-raises exactly the type the local backend raises.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "MPCError",
    "ConfigError",
    "MemoryLimitExceeded",
    "UnknownDestination",
    "UnsupportedValue",
    "ProgramError",
    "ProgramStateError",
    "MaxRoundsExceeded",
    "BackendUnavailable",
    "HostLost",
]


def _rebuild(cls: type[MPCError], fields: dict[str, Any]) -> MPCError:
    return cls(**fields)


class MPCError(Exception):
    """Base class of every mpcsim error. Fields are keyword arguments, kept on the instance."""

    def __init__(self, **fields: Any) -> None:
        self.fields = fields
        for name, value in fields.items():
            setattr(self, name, value)
        super().__init__(self._message())

    def _message(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.fields.items())

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.fields))


class ConfigError(MPCError, ValueError):
    """Invalid run configuration. `problems` lists every (field, value, rule) found at once."""

    problems: list[tuple[str, Any, str]]

    def _message(self) -> str:
        lines = [f"  {field}={value!r}: {rule}" for field, value, rule in self.problems]
        return "invalid configuration:\n" + "\n".join(lines)


class MemoryLimitExceeded(MPCError):
    """A machine held, sent or received more words in a round than memory_words allows.

    For limit "memory", `words` = memory values + `output` + `inbox` (the messages just
    delivered; 0 when the cap was exceeded by the round's own compute)."""

    machine: int
    round_idx: int
    limit: str  # "memory" (held after compute or delivery), "sent" or "received"
    words: int
    cap: int
    output: int  # words of the output, within `words` (limit "memory")
    inbox: int  # words just received, within `words` (limit "memory", at delivery)

    def __init__(self, *, machine: int, round_idx: int, limit: str, words: int, cap: int,
                 output: int = 0, inbox: int = 0) -> None:
        super().__init__(machine=machine, round_idx=round_idx, limit=limit, words=words,
                         cap=cap, output=output, inbox=inbox)

    def _message(self) -> str:
        head = f"machine {self.machine}"
        over = f"over the {self.limit} cap of memory_words={self.cap}"
        stop = " (enforce=False records violations instead of stopping)."
        if self.limit == "sent":
            return (f"{head} sent {self.words} words in round {self.round_idx}, {over}. Send "
                    f"fewer words per round (spread them over more rounds or more senders), or "
                    f"raise memory_words" + stop)
        if self.limit == "received":
            return (f"{head} received {self.words} words sent in round {self.round_idx}, "
                    f"{over}. Spread the messages over more receivers or rounds, or raise "
                    f"memory_words" + stop)
        memory = self.words - self.output - self.inbox
        when = (f"after round {self.round_idx}'s messages were delivered" if self.inbox
                else f"after its round {self.round_idx}")
        split = f"memory values {memory} + output {self.output} + inbox {self.inbox}"
        full = (f" Its memory alone fills {memory} of the {self.cap} words: the default "
                f"partition puts memory_words words of input on each input machine, which "
                f"leaves no room for an output or messages." if memory >= self.cap else "")
        return (f"{head} holds {self.words} words {when} ({split}), {over}.{full} Fix: drop "
                f"what the machine no longer needs (del machine.memory[key]); start machines "
                f"with room to spare (override Program.partition, e.g. return "
                f"mpcsim.partition_inputs(inputs, num_machines, memory_words // 2)); send to "
                f"more machines; or raise memory_words" + stop)


class UnknownDestination(MPCError):
    """A machine sent to a machine id that does not exist."""

    machine: int
    round_idx: int
    dest: Any
    num_machines: int

    def _message(self) -> str:
        return (
            f"machine {self.machine} sent to machine {self.dest!r} in round {self.round_idx}, "
            f"but machine ids are the ints 0..{self.num_machines - 1} (num_machines="
            f"{self.num_machines})."
        )


class UnsupportedValue(MPCError):
    """A message payload, output or memory value that mpcsim cannot count or encode.

    `where` names the value and the path inside it ("the message to machine 3: payload[2]['k']",
    "memory['x'][1]", "machine.output[0]"); `type_name` is the failing part's type; `reason`
    (optional) ends the sentence "<where> ..." with what is wrong with it, when its type alone
    does not say (an int too large, an array of a non-numeric dtype)."""

    machine: int
    round_idx: int
    where: str
    type_name: str
    reason: str

    ALLOWED = ("Messages, outputs and initial memory carry None, bool, int (-2**63 to "
               "2**64 - 1), float, str, bytes, numpy arrays of numeric dtype (bool, int, uint, "
               "float, complex), numpy bool/int/uint/float scalars, and lists, tuples, sets and "
               "dicts of these (tuples arrive as lists).")

    def __init__(self, *, machine: int, round_idx: int, where: str, type_name: str,
                 reason: str = "") -> None:
        super().__init__(machine=machine, round_idx=round_idx, where=where,
                         type_name=type_name, reason=reason)

    def _message(self) -> str:
        reason = self.reason or (f"has type {self.type_name}, which mpcsim cannot count or "
                                 f"encode")
        return f"machine {self.machine}, round {self.round_idx}: {self.where} {reason}. " + (
            self.ALLOWED)

    @classmethod
    def found(cls, machine: int, round_idx: int, where: str, found: Any) -> UnsupportedValue:
        """From mpcsim.wire.find_unencodable's (path, type_name, reason); `where` prefixes
        the path (e.g. "the message to machine 3: "), "" for none."""
        path, type_name, reason = found
        return cls(machine=machine, round_idx=round_idx, where=where + path,
                   type_name=type_name, reason=reason)


class ProgramError(MPCError):
    """User code raised. Carries the original type, message and formatted traceback."""

    machine: int
    round_idx: int
    original_type: str
    original_message: str
    traceback: str

    def _message(self) -> str:
        return (
            f"machine {self.machine} raised {self.original_type} in round {self.round_idx}: "
            f"{self.original_message}\n--- original traceback ---\n{self.traceback}"
        )


class ProgramStateError(MPCError):
    """A round changed the Program object itself: an attribute set, added, removed or changed
    in place. Each host runs its own copy of the program (on Ray, each actor), so state kept
    on it would make the result depend on the backend and the layout."""

    round_idx: int  # the round after which the change was seen (the last round if in place)
    host: int
    attribute: str
    how: str  # "set", "added", "removed" or "changed in place"

    def _message(self) -> str:
        return (
            f"round {self.round_idx}: the program's attribute {self.attribute!r} was "
            f"{self.how} during the run (on host {self.host}). A program is code and "
            "settings: every host runs its own copy (on Ray, every actor), so state kept on "
            "it would depend on the backend and the layout. Keep per-machine state in "
            "machine.memory; compute plans in partition(), which runs once before round 0."
        )


class MaxRoundsExceeded(MPCError):
    """The run reached max_rounds with machines still active or messages in flight."""

    max_rounds: int
    active_machines: int
    messages_in_flight: int

    def _message(self) -> str:
        return (
            f"no termination after max_rounds={self.max_rounds}: {self.active_machines} "
            f"machines have not halted and {self.messages_in_flight} messages are in flight. "
            f"Check that every machine calls machine.halt(), or raise max_rounds."
        )


class BackendUnavailable(MPCError):
    """The requested backend cannot run here (Ray missing, or no cluster at the address)."""

    backend: str
    address: Any
    reason: str

    def _message(self) -> str:
        at = f" at address {self.address!r}" if self.address else ""
        return f"backend {self.backend!r} unavailable{at}: {self.reason}"


class HostLost(BackendUnavailable):
    """A host (a Ray actor and its machines) died and the run could not recover it: recovery
    is off, the run lost more hosts than max_recoveries, or a replayed round came out
    different (see README, "Surviving a lost machine")."""

    host: int
    machines: str  # "lo..hi-1", the host's machines
    round_idx: int
    node: str  # where it was lost
    reason: str  # why recovery stopped, ending with what to change

    def _message(self) -> str:
        return (f"host {self.host} (machines {self.machines}) was lost on node {self.node} "
                f"in round {self.round_idx}: {self.reason}")
