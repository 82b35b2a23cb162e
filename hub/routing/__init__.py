"""Routing: from an alarm's place to its grid and the people on duty, and the notification channels."""

from hub.routing.place import alarm_place
from hub.routing.router import RoutedPerson, Router, RoutingDecision
from hub.routing.rules import ROUTES, Route, route_for

__all__ = ["ROUTES", "Route", "RoutedPerson", "Router", "RoutingDecision", "alarm_place", "route_for"]
