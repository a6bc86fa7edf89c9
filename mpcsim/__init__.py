"""mpcsim: run Massively Parallel Computation round programs for real, with every cap enforced.

    import mpcsim
    result = mpcsim.run(MyProgram(), inputs, num_machines=16, memory_words=4096)
    result.output, result.rounds, result.trace.summary()

See README.md for the model, the word-counting rule (mpcsim.words) and the backends.
"""

from .api import run
from .columns import Messages
from .config import BACKENDS, Fault, RunConfig
from .driver import Result
from .errors import (
    BackendUnavailable,
    ConfigError,
    HostLost,
    MaxRoundsExceeded,
    MemoryLimitExceeded,
    MPCError,
    ProgramError,
    ProgramStateError,
    UnknownDestination,
    UnsupportedValue,
)
from .fleet import Fleet, FleetMessages
from .host import Violation
from .program import FunctionProgram, Machine, Partition, Program, partition_inputs
from .trace import RecoveryRecord, RoundRecord, Trace
from .wordcount import words

__version__ = "0.1.0"

__all__ = [
    "run", "Program", "FunctionProgram", "Machine", "Messages", "Fleet", "FleetMessages",
    "Partition", "partition_inputs", "Result",
    "Trace",
    "RoundRecord", "RecoveryRecord", "Violation", "RunConfig", "Fault", "BACKENDS", "words",
    "MPCError", "ConfigError", "MemoryLimitExceeded", "UnknownDestination", "UnsupportedValue",
    "ProgramError", "ProgramStateError", "MaxRoundsExceeded", "BackendUnavailable", "HostLost",
    "__version__",
]
