"""The shipped model's tests use the edge's detector fixture."""

from tests.edge.vision.conftest import detector  # noqa: F401  (fixture)
