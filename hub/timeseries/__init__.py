"""Time series: readings, events, detector scores and health figures, to InfluxDB or an embedded store."""

from hub.timeseries.base import RecordWriter, SeriesPoint, SeriesReader, SeriesSink
from hub.timeseries.embedded import EmbeddedStore
from hub.timeseries.factory import TimeSeries, open_timeseries
from hub.timeseries.influx import InfluxWriter
from hub.timeseries.schema import SeriesMapper, SeriesRecord
from hub.timeseries.settings import TOKEN_ENV, TimeseriesSettings
from hub.timeseries.sink import MappedSink

__all__ = [
    "TOKEN_ENV",
    "EmbeddedStore",
    "InfluxWriter",
    "MappedSink",
    "RecordWriter",
    "SeriesMapper",
    "SeriesPoint",
    "SeriesReader",
    "SeriesRecord",
    "SeriesSink",
    "TimeSeries",
    "TimeseriesSettings",
    "open_timeseries",
]
