"""Model instances from hand-written SQL, for the two hottest reads (the bearer-token lookup
and loading search hits): compiling their ORM queries cost more Python time than running
them. ``columns`` lists a model's fields for a SELECT; ``instance`` turns those columns of a
row back into an instance exactly as the ORM would (each field's own converters, fields
left out are deferred), and ``attach`` caches a related instance like ``select_related``."""

from __future__ import annotations

import functools

from django.db import connection


def fields_of(model, *, exclude: tuple[str, ...] = ()) -> tuple:
    """The model's concrete fields in ``Model.from_db``'s order, minus ``exclude`` (names)."""
    return tuple(field for field in model._meta.concrete_fields if field.name not in exclude)


def columns(alias: str, fields: tuple) -> str:
    return ", ".join(f'{alias}."{field.column}"' for field in fields)


@functools.cache
def _reading(model, fields: tuple) -> tuple[int, tuple, list[str]]:
    """Where the primary key is, each field's converters, and the attribute names."""
    return fields.index(model._meta.pk), tuple(field.get_db_converters(connection) for field in fields), [f.attname for f in fields]


def instance(model, fields: tuple, values):
    """An instance from ``values`` (the columns of ``fields``), or None when its primary key
    is NULL (nothing matched a LEFT JOIN)."""
    pk_at, converters, attnames = _reading(model, fields)
    if values[pk_at] is None:
        return None
    converted = []
    for field, field_converters, value in zip(fields, converters, values, strict=False):
        for converter in field_converters:
            value = converter(value, field, connection)
        converted.append(value)
    return model.from_db(connection.alias, attnames, converted)


def attach(obj, name: str, related) -> None:
    """Cache ``related`` as ``obj.<name>`` (a foreign key), as ``select_related`` does."""
    type(obj)._meta.get_field(name).set_cached_value(obj, related)
