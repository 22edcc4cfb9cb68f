"""What a person should do when a run halts, by the step it halted at."""

from __future__ import annotations

from mediasync.pipeline.steps import STEPS

_BY_STEP: dict[int, str] = {
    1: "check that the source is reachable and its credentials are valid "
       "(iCloud: `mediasync icloud login`)",
    2: "check that the Pixel sync folder exists and is writable",
    3: "check that Syncthing runs, its API key is right and the Pixel is connected",
    4: "check that the NAS is mounted and writable at workflow.nas_archive, with free space",
    5: "check free space and permissions of workflow.processing",
    6: "check that ffmpeg is installed and there is free space at workflow.compressed",
    7: "read the reason: a safety gate or the circuit breaker stops deletes on purpose; "
       "check the source before allowing them again",
    8: "check permissions of the working folders",
}
BEFORE_ANY_STEP = ("check the configuration with `mediasync config check --config PATH` "
                   "and the run's logs")


def fix_for_step(step: int | None) -> str:
    """The fix for a run that halted at `step` (None: before any step ran)."""
    if step is None or step not in _BY_STEP:
        return f"{BEFORE_ANY_STEP}, then run again"
    return (f"{_BY_STEP[step]}, then run again from step {step} "
            f"(`mediasync run --start {step}`): finished work is not repeated")


def step_name(step: int | None) -> str | None:
    return STEPS[step - 1].name if step is not None and 1 <= step <= len(STEPS) else None
