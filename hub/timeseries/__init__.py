"""Time series: readings, events, detector scores and health figures, to InfluxDB or an embedded store."""

from hub.timeseries.base import SeriesPoint, SeriesSink

__all__ = ["SeriesPoint", "SeriesSink"]
