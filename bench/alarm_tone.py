"""Writes ``hub/web/static/alarm.wav``: the console's critical-alarm tone (shipped; run again to regenerate).

Two alternating tones (960 Hz / 770 Hz, 0.25 s each, like a fire panel's two-tone sounder) twice over, 16-bit
mono at 16 kHz, with 5 ms fades so that the loop does not click; about 32 KB. numpy and the stdlib only.
"""

from __future__ import annotations

import sys
import wave
from pathlib import Path

import numpy as np

RATE = 16_000
TONES = (960.0, 770.0)
STEP_S = 0.25
REPEATS = 2
FADE_S = 0.005
LEVEL = 0.6

OUT = Path(__file__).resolve().parents[1] / "hub" / "web" / "static" / "alarm.wav"


def tone() -> np.ndarray:
    """The samples as int16."""
    n = int(RATE * STEP_S)
    t = np.arange(n) / RATE
    fade = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / (FADE_S * RATE))
    steps = [np.sin(2 * np.pi * f * t) * fade for _ in range(REPEATS) for f in TONES]
    samples = np.concatenate(steps) * LEVEL
    return np.round(samples * 32767).astype("<i2")


def main(path: Path = OUT) -> Path:
    """Write the WAV file and return its path."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(tone().tobytes())
    return path


if __name__ == "__main__":
    written = main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
    print(f"{written}: {written.stat().st_size} bytes")
