"""Device simulators: produce what real devices would (readings, frames); know nothing of rules or MQTT."""
