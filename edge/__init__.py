"""Edge agent: reads sensor drivers, applies rules, publishes events through an on-disk outbox."""
