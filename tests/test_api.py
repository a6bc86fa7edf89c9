"""mpcsim.run's own conveniences: the functional style, progress callbacks, Result fields."""

from __future__ import annotations

import pytest

import mpcsim


def count_to_three(machine: mpcsim.Machine) -> None:
    machine.output = machine.round_idx
    if machine.round_idx == 2:
        machine.halt()


def test_progress_is_called_once_per_round_with_the_record_and_elapsed_time() -> None:
    seen: list[tuple[int, float]] = []
    result = mpcsim.run(count_to_three, num_machines=3, memory_words=1,
                        progress=lambda record, elapsed_s: seen.append((record.round_idx,
                                                                        elapsed_s)))
    assert [r for r, _ in seen] == [0, 1, 2] == [r.round_idx for r in result.trace.rounds]
    assert all(later >= earlier >= 0 for (_, earlier), (_, later) in zip(seen, seen[1:]))


def test_a_plain_function_is_a_program_and_the_result_has_output_rounds_trace() -> None:
    result = mpcsim.run(count_to_three, num_machines=3, memory_words=1)
    assert result.output == [2, 2, 2]
    assert result.rounds == 3 == len(result.trace.rounds)
    assert result.wall_s == pytest.approx(sum(r.wall_s for r in result.trace.rounds))
    assert result.config.num_machines == 3 and result.workers == 1


def test_something_that_is_not_a_program_is_refused_with_a_type_error() -> None:
    with pytest.raises(TypeError, match="mpcsim.Program or a function"):
        mpcsim.run(42, num_machines=1, memory_words=1)  # type: ignore[arg-type]


@pytest.mark.ray
def test_joining_another_cluster_while_connected_says_what_to_do(ray_session: object) -> None:
    import socket

    with socket.socket() as listener:  # something answers, but it is not our cluster
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        address = "127.0.0.1:%d" % listener.getsockname()[1]
        with pytest.raises(mpcsim.BackendUnavailable, match="already connected"):
            mpcsim.run(count_to_three, num_machines=1, memory_words=1, backend="ray",
                       address=address)
