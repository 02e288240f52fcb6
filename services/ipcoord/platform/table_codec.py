"""Table values as protobuf: a codec per table, between the domain's value and the message
declared for it under protos/, registered as the Faust table's serializer.

Why protobuf: a replica recovers its tables from their changelog topics, so a record written by
one version must decode in every later one; `buf breaking` guards the messages like the events.
And unlike Faust's pickle codec, decoding can only ever build the one message the table holds:
a record anyone managed to write to a changelog topic cannot run code."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from faust.serializers import codecs
from google.protobuf.message import DecodeError, Message
from google.protobuf.timestamp_pb2 import Timestamp

V = TypeVar("V")
M = TypeVar("M", bound=Message)


class TableCodec(Generic[V, M]):
    """One table's values: ``to_message`` and ``from_message`` map the domain's value to its
    message and back; bytes are deterministic."""

    def __init__(
        self,
        message: type[M],
        to_message: Callable[[V], M],
        from_message: Callable[[M], V],
    ) -> None:
        self.message = message
        self._to = to_message
        self._from = from_message

    def encode(self, value: V) -> bytes:
        return self._to(value).SerializeToString(deterministic=True)

    def copy(self, value: V) -> V:
        """A value sharing nothing with ``value``, as a store that keeps bytes would give."""
        return self._from(self._to(value))

    def decode(self, data: bytes) -> V:
        try:
            return self._from(self.message.FromString(data))
        except DecodeError as exc:
            raise ValueError(f"not a {self.message.DESCRIPTOR.full_name}: {exc}") from exc


class MessageCodec(TableCodec[M, M]):
    """A table whose values are the protobuf message itself."""

    def __init__(self, message: type[M]) -> None:
        super().__init__(message, _same, _same)

    def copy(self, value: M) -> M:
        copied = self.message()
        copied.CopyFrom(value)
        return copied


def _same(value):
    return value


class _FaustCodec(codecs.Codec):
    def __init__(self, table_codec: TableCodec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._table_codec = table_codec

    def _dumps(self, obj: Any) -> bytes:
        return self._table_codec.encode(obj)

    def _loads(self, s: bytes) -> Any:
        return self._table_codec.decode(s)


def value_type(name: str, table_codec: TableCodec) -> type:
    """Register ``table_codec`` as the Faust codec ``name`` and return the type to pass as a
    Faust table's ``value_type``. Faust derives a table's serializer, and its changelog's, from
    ``value_type._options.serializer`` at construction, so recovery decodes the same way."""
    codecs.register(name, _FaustCodec(table_codec))

    class _Options:
        serializer = name

    class StateValue:
        _options = _Options

        @classmethod
        def from_data(cls, data: Any, *, preferred_type: Any = None) -> Any:
            return data  # the codec has rebuilt the value already

    StateValue.__qualname__ = StateValue.__name__ = f"StateValue[{name}]"
    return StateValue


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp(at: datetime) -> Timestamp:
    """A time as stored (an aware datetime; protobuf keeps the instant, to the microsecond; a
    naive one is read as UTC, as protobuf's FromDatetime does). Computed directly: protobuf's
    FromDatetime was a sixth of a GetCase."""
    since = (at if at.tzinfo is not None else at.replace(tzinfo=UTC)) - _EPOCH
    return Timestamp(seconds=since.days * 86_400 + since.seconds, nanos=since.microseconds * 1_000)


def time_of(stored: Timestamp) -> datetime:
    return _EPOCH + timedelta(seconds=stored.seconds, microseconds=stored.nanos // 1_000)
