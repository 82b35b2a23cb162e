"""The built-in camera types, one module each; importing this package registers them.

A new camera type is one more module like these (or a plugin module outside the tree, loaded with
``compound --plugin MODULE``): options model, rule, ``register_camera_kind(CameraKind(...))``.
"""

from edge.vision.types.facade import FACADE, FacadeRuleConfig, ThrownObjectRule
from edge.vision.types.fire_lane import FIRE_LANE, FireLaneRule, FireLaneRuleConfig
from edge.vision.types.lift import LIFT, EbikeInLiftRule, LiftRuleConfig

__all__ = [
    "FACADE",
    "FIRE_LANE",
    "LIFT",
    "EbikeInLiftRule",
    "FacadeRuleConfig",
    "FireLaneRule",
    "FireLaneRuleConfig",
    "LiftRuleConfig",
    "ThrownObjectRule",
]
