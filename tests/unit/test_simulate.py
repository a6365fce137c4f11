"""The trace-driven simulation on hand-built timelines: exact walls and model waits."""

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiler.accelerators.presets import preset_from_dict
from profiler.sizing.plan import Call, Cpu, Fork, Recording, RunPlan, Step, Wait
from profiler.sizing.simulate import Assumptions, Machine, faster, simulate

# TTFT 0.1 s, 1,000 prompt tokens/s, 100 tokens/s per stream: a call of 100 prompt and 11 output
# tokens takes 0.1 + 0.1 (to its first token) + 10 / 100 = 0.3 s on an idle replica
PRESET = preset_from_dict(
    {
        "name": "test",
        "ttft_s": 0.1,
        "prefill_tok_s": 1000,
        "decode_tok_s": 100,
        "aggregate_tok_s": 1e9,
        "max_batch": 64,
        "source": "a test",
    }
)
CALL = Call(input_tokens=100, output_tokens=11, stream_cpu_s=0.0, reads=None)
IDLE = Machine(cores=8, processes=1, concurrency=1)


def recording(*runs: tuple[Step, ...], interference: float = 0.0) -> Recording:
    return Recording(
        tuple(RunPlan(steps, 0.0) for steps in runs), interference, 0.0, delivery_interval_s=0.01, completed=len(runs)
    )


def run(*runs: tuple[Step, ...], machine: Machine = IDLE, preset=PRESET, interference: float = 0.0):
    return simulate(recording(*runs, interference=interference), preset, machine, Assumptions())


def test_a_sequence_adds_up_and_only_the_call_is_model_time():
    result = run((Cpu(0.2), CALL, Wait(0.3), Cpu(0.1)))
    assert result.wall_s == pytest.approx((0.9,))
    assert result.model_wait_s == pytest.approx((0.3,))
    assert result.cpu_share == pytest.approx(0.6 / 0.9)


def test_fan_out_branches_share_the_loop_and_join_at_the_last():
    # two CPU branches on one loop share it (0.4 s for both), one then waits 0.5 s; the call ends at 0.3 s
    result = run((Fork(((Cpu(0.2),), (Cpu(0.2), Wait(0.5)), (CALL,))), Cpu(0.1)))
    assert result.wall_s == pytest.approx((1.0,))
    assert result.model_wait_s == pytest.approx((0.0,))  # the branch that ended last had no call


def test_fan_out_model_time_is_the_last_branchs():
    long_call = CALL._replace(output_tokens=51)  # 0.2 + 50 / 100 = 0.7 s
    result = run((Fork(((CALL,), (long_call,), (Cpu(0.1),))),))
    assert result.wall_s == pytest.approx((0.7,))
    assert result.model_wait_s == pytest.approx((0.7,))


@pytest.mark.parametrize(("max_batch", "walls"), [(1, (0.5, 1.0, 1.5)), (2, (0.5, 0.5, 1.0)), (3, (0.5, 0.5, 0.5))])
def test_calls_queue_at_max_batch_and_the_queue_is_model_time(max_batch, walls):
    preset = replace(PRESET, ttft_s=0.5, max_batch=max_batch)
    single = Call(input_tokens=0, output_tokens=1, stream_cpu_s=0.0, reads=None)
    result = run((single,), (single,), (single,), machine=Machine(cores=8, concurrency=3), preset=preset)
    assert result.wall_s == pytest.approx(walls)
    assert result.model_wait_s == pytest.approx(walls)


@pytest.mark.parametrize(
    ("processes", "cores", "wall"),
    [(4, 4, 1.0), (4, 2, 2.0), (4, 1, 4.0), (1, 2, 4.0), (2, 8, 2.0)],
)
def test_cpu_bound_runs_share_loops_and_cores(processes, cores, wall):
    # four runs of 1 s of CPU at once: a loop runs one core at most, cores are shared evenly
    result = run(*[(Cpu(1.0),)] * 4, machine=Machine(cores=cores, processes=processes, concurrency=4))
    assert result.wall_s == pytest.approx((wall,) * 4)
    assert result.makespan_s == pytest.approx(wall)


def test_fewer_workers_than_runs_start_the_next_run_when_one_ends():
    result = run(*[(Cpu(1.0),)] * 4, machine=Machine(cores=1, processes=2, concurrency=2))
    assert result.wall_s == pytest.approx((2.0,) * 4)
    assert result.makespan_s == pytest.approx(4.0)


@pytest.mark.parametrize(("cores", "wall"), [(2, 1.0), (1, 2.0)])
def test_child_processes_take_a_core_but_not_the_loop(cores, wall):
    result = run((Cpu(1.0, loop=False),), (Cpu(1.0),), machine=Machine(cores=cores, concurrency=2))
    assert result.wall_s == pytest.approx((wall, wall))


def test_interference_and_the_loops_own_work_stretch_loop_work_only():
    result = run((Cpu(1.0), Cpu(1.0, loop=False)), interference=0.5)
    assert result.wall_s == pytest.approx((2.5,))
    plans = replace(recording((Cpu(1.0), Cpu(1.0, loop=False))), interference=0.5, loop_overhead=0.25)
    assert simulate(plans, PRESET, IDLE, Assumptions()).wall_s == pytest.approx((2.75,))


def test_stream_cpu_beyond_the_reply_lands_after_it():
    # one output token: one read, all of the stream's client CPU after the model is done
    result = run((Call(input_tokens=0, output_tokens=1, stream_cpu_s=0.4, reads=None),))
    assert result.wall_s == pytest.approx((0.5,))
    assert result.model_wait_s == pytest.approx((0.1,))


def test_stream_cpu_hides_behind_decoding_but_its_last_read():
    # 101 tokens in 1 s, delivered every 10 ms: 101 reads, the last one's share after the reply
    call = Call(input_tokens=0, output_tokens=101, stream_cpu_s=0.101, reads=None)
    result = run((call,))
    assert result.wall_s == pytest.approx((1.1 + 0.001,))
    assert result.model_wait_s == pytest.approx((1.1,))


def test_deliveries_are_recounted_at_the_target_speed():
    # recorded: 100 deliveries shared by 2 streams at 1 ms each (50 ms) in 200 ms of stream CPU;
    # at 1,000 tok/s the 101 tokens come in 0.1 s: 11 deliveries (11 ms) plus the other 150 ms
    call = Call(input_tokens=0, output_tokens=101, stream_cpu_s=0.2, reads=100, sharing=2)
    recorded = recording((call,))
    result = simulate(recorded, replace(PRESET, decode_tok_s=1000), IDLE, Assumptions(delivery_cpu_s=0.001))
    assert result.stream_cpu_change_s == pytest.approx(0.161 - 0.2)
    assert result.wall_s == pytest.approx((0.1 + 0.161,))  # the client is slower than the stream


steps = st.lists(
    st.one_of(
        st.builds(Cpu, st.floats(0.001, 1.0), st.booleans()),
        st.builds(Wait, st.floats(0.001, 1.0)),
        st.builds(Call, st.integers(0, 5000), st.integers(1, 300), st.just(0.0), st.none()),
    ),
    min_size=1,
    max_size=12,
)


def model_time(step: Step) -> float:
    if not isinstance(step, Call):
        return 0.0
    return PRESET.ttft_s + step.input_tokens / PRESET.prefill_tok_s + (step.output_tokens - 1) / PRESET.decode_tok_s


@settings(deadline=None, max_examples=60)
@given(steps, st.floats(0.0, 1.0))
def test_one_run_alone_takes_its_steps_one_after_another(plan, interference):
    result = run(tuple(plan), interference=interference)
    loop = sum(s.seconds for s in plan if isinstance(s, Cpu) and s.loop)
    cpu = loop * (1 + interference) + sum(s.seconds for s in plan if isinstance(s, Cpu) and not s.loop)
    waits = sum(s.seconds for s in plan if isinstance(s, Wait))
    model = sum(model_time(s) for s in plan)
    assert result.wall_s == pytest.approx((cpu + waits + model,))
    assert result.model_wait_s == pytest.approx((model,))


@settings(deadline=None, max_examples=40)
@given(st.lists(steps, min_size=1, max_size=4), st.floats(1.5, 20), st.integers(1, 4), st.integers(1, 3))
def test_faster_inference_never_slows_a_run_down(plans, k, concurrency, cores):
    machine = Machine(cores=cores, processes=1, concurrency=concurrency)
    slow = simulate(recording(*map(tuple, plans)), PRESET, machine, Assumptions())
    fast = simulate(recording(*map(tuple, plans)), faster(PRESET, k), machine, Assumptions())
    assert fast.makespan_s <= slow.makespan_s + 1e-9
    assert sum(fast.model_wait_s) <= sum(slow.model_wait_s) + 1e-9
    assert all(0.0 <= share <= 1.0 for share in (fast.cpu_share, slow.cpu_share) if share is not None)
