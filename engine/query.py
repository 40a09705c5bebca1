"""Camunda-style query parameters: typed parsing, filters, sorting and paging, for GET and POST."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, OrderBy, Q, QuerySet

from engine.errors import BadUserRequest

DATE_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z")
SORT_PAIR_MESSAGE = "Only a single sorting parameter specified. sortBy and sortOrder required"
MAX_LIST_LENGTH = 100_000
MAX_INT = 2**31 - 1


def parse_date(value: object) -> datetime:
    if isinstance(value, str):
        for fmt in DATE_FORMATS:
            try:
                return datetime.strptime(value, fmt)
            except ValueError:
                continue
    raise ValueError(value)


def format_date(value: datetime | None) -> str | None:
    """Camunda's yyyy-MM-dd'T'HH:mm:ss.SSSZ, always in UTC (+0000)."""
    if value is None:
        return None
    from datetime import UTC

    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def invalid(name: str, raw: object) -> BadUserRequest:
    return BadUserRequest(f"Cannot set query parameter '{name}' to value '{raw}'")


def java_boolean(raw: str | None) -> bool:
    """A plain boolean query parameter as Camunda's JAX-RS binds it (Boolean.valueOf): "true" in any
    case is true; anything else, or nothing, is false (e.g. DELETE /batch/{id}?cascade=)."""
    return raw is not None and raw.strip().lower() == "true"


def _to_str(name: str, raw: object) -> str:
    if not isinstance(raw, str):
        raise invalid(name, raw)
    return raw


def _to_bool(name: str, raw: object) -> bool:
    # Camunda reads a query's booleans as JSON (BooleanConverter): exactly true or false.
    if isinstance(raw, bool):
        return raw
    if raw in ("true", "false"):
        return raw == "true"
    raise invalid(name, raw)


def _to_int(name: str, raw: object, low: int = 0, high: int = MAX_INT) -> int:
    """A whole number within Java's type: Integer (0 … 2³¹−1 for Camunda's counts) or Long."""
    if isinstance(raw, bool):
        raise invalid(name, raw)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise invalid(name, raw) from None
    if value < low or value > high:
        raise invalid(name, raw)
    return value


def _to_list(name: str, raw: object, from_body: bool) -> list[str]:
    if from_body and isinstance(raw, list):
        items = raw
    elif isinstance(raw, str):
        items = [part for part in raw.split(",")]
    else:
        raise invalid(name, raw)
    if len(items) > MAX_LIST_LENGTH:
        raise BadUserRequest(f"{name} has more than {MAX_LIST_LENGTH} entries")
    for item in items:
        if item is None:
            raise BadUserRequest(f"{name} must not contain null values")
        if not isinstance(item, str):
            raise invalid(name, item)
    return items


CONVERTERS: dict[str, Callable[[str, object, bool], object]] = {
    "str": lambda n, r, b: _to_str(n, r),
    "long": lambda n, r, b: _to_int(n, r, -(2**63), 2**63 - 1),
    "list": _to_list,
    "bool": lambda n, r, b: _to_bool(n, r),
    "int": lambda n, r, b: _to_int(n, r),
    "date": lambda n, r, b: _date(n, r),
}


def _date(name: str, raw: object) -> datetime:
    try:
        return parse_date(raw)
    except ValueError:
        raise invalid(name, raw) from None


def parse_conditions(label: str) -> Callable[[str, object, bool], list[tuple[str, datetime]]]:
    """Camunda's date conditions (dueDates, createTimes): [{operator: gt|lt, value}] or `gt_date,lt_date`."""

    def convert(name: str, raw: object, from_body: bool) -> list[tuple[str, datetime]]:
        if from_body:
            if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
                raise invalid(name, raw)
            pairs = [(item.get("operator"), item.get("value")) for item in raw]
        elif isinstance(raw, str):
            pairs = []
            for part in raw.split(","):
                pieces = part.split("_")
                if len(pieces) != 2:
                    raise BadUserRequest(f"Cannot set query parameter '{name}' to value '{raw}': condition query parameter has to have format OPERATOR_VALUE.")
                pairs.append((pieces[0], pieces[1]))
        else:
            raise invalid(name, raw)
        result = []
        for operator, value in pairs:
            if operator not in ("gt", "lt"):
                raise BadUserRequest(f"Invalid {label} comparator specified: {operator}")
            try:
                result.append((operator, parse_date(value)))
            except ValueError:
                raise BadUserRequest(f"Invalid {label} format: Cannot convert value {value} to java type java.util.Date") from None
        return result

    convert.conditions = True  # engine.rest.schema documents it as a list of {operator, value}
    return convert


@dataclass(frozen=True)
class Param:
    # A converter name of CONVERTERS, or a converter (name, raw, from_body) -> value.
    kind: str | Callable[[str, object, bool], object]
    # An ORM lookup ("business_key") or a function value -> Q (a condition on the queried rows).
    apply: str | Callable[..., Q]
    # Other parameters of the same query whose values the function receives as keyword arguments
    # (e.g. variables with variableNamesIgnoreCase); such modifiers apply as no condition themselves.
    uses: tuple[str, ...] = ()


# Keys of a query that are not filters: sorting and paging in a query string, sorting in a body.
GET_CONTROL_KEYS = frozenset({"sortBy", "sortOrder", "firstResult", "maxResults"})
BODY_CONTROL_KEYS = frozenset({"sortBy", "sortOrder", "sorting"})
UNKNOWN_PARAMETER = "Unknown query parameter '{name}': the engine cannot answer it, so the query is refused rather than widened"
UNSUPPORTED_PARAMETER = (
    "Query parameter '{name}' is not supported by this engine: it is refused rather than ignored, "
    "so that the query never matches more than asked"
)


@dataclass(frozen=True)
class QuerySpec:
    params: dict[str, Param]
    sort_fields: dict[str, str]
    default_order: tuple[str, ...] = ("pk",)
    # Camunda parameters of this query that the engine cannot answer (a 400 that says so).
    unsupported: frozenset[str] = frozenset()
    # Whether the POST body may carry Camunda's orQueries (a list of queries OR-ed together).
    or_queries: bool = False
    # Camunda's usage errors of a query (e.g. two states at once), checked outside or-queries.
    check: Callable[[dict[str, object]], None] | None = None

    def parse(self, data: Mapping, *, from_body: bool, nested: bool = False) -> dict[str, object]:
        """Typed values of the parameters in data; any other key with a value is a 400 naming it."""
        values: dict[str, object] = {}
        for name in data:
            raw = data[name]
            if raw is None and from_body:
                continue  # Camunda's DTOs leave null fields unset
            if name in self.params:
                kind = self.params[name].kind
                values[name] = (CONVERTERS[kind] if isinstance(kind, str) else kind)(name, raw, from_body)
            elif name == "orQueries" and self.or_queries and from_body and not nested:
                values[name] = self._parse_or_queries(raw)
            elif nested or name not in (BODY_CONTROL_KEYS if from_body else GET_CONTROL_KEYS):
                raise BadUserRequest(self.refusal(name))
        if self.check is not None and not nested:
            self.check(values)
        return values

    def refusal(self, name: str) -> str:
        if name in self.unsupported or (name == "orQueries" and not self.or_queries):
            return UNSUPPORTED_PARAMETER.format(name=name)
        return UNKNOWN_PARAMETER.format(name=name)

    def _parse_or_queries(self, raw: object) -> list[dict[str, object]]:
        if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
            raise invalid("orQueries", raw)
        return [self.parse(item, from_body=True, nested=True) for item in raw]

    def condition(self, values: dict[str, object]) -> Q:
        """All parameters AND-ed; each entry of orQueries is its parameters OR-ed (Camunda's or-query)."""
        condition = Q()
        for name, value in values.items():
            if name == "orQueries":
                for group in value:
                    either = Q()
                    for sub_name, sub_value in group.items():
                        either |= self._one(sub_name, sub_value, group)
                    condition &= either
            else:
                condition &= self._one(name, value, values)
        return condition

    def _one(self, name: str, value: object, context: dict[str, object]) -> Q:
        param = self.params[name]
        if isinstance(param.apply, str):
            return Q(**{param.apply: value})
        return param.apply(value, **{used: context.get(used, False) for used in param.uses})

    def filter(self, queryset: QuerySet, values: dict[str, object]) -> QuerySet:
        return queryset.filter(self.condition(values))

    def ordering(self, data: Mapping, *, from_body: bool) -> list[OrderBy]:
        pairs: list[tuple[object, object]] = []
        if from_body and "sorting" in data and data["sorting"] is not None:
            sorting = data["sorting"]
            if not isinstance(sorting, list) or not all(isinstance(s, dict) for s in sorting):
                raise invalid("sorting", sorting)
            pairs = [(s.get("sortBy"), s.get("sortOrder")) for s in sorting]
        elif "sortBy" in data or "sortOrder" in data:
            pairs = [(data.get("sortBy"), data.get("sortOrder"))]
        order: list[OrderBy] = []
        used: set[str] = set()
        for sort_by, sort_order in pairs:
            if sort_by is None or sort_order is None:
                raise BadUserRequest(SORT_PAIR_MESSAGE)
            if not isinstance(sort_by, str) or sort_by not in self.sort_fields:
                raise invalid("sortBy", sort_by)
            if not isinstance(sort_order, str) or sort_order not in ("asc", "desc"):
                raise invalid("sortOrder", sort_order)
            column = self.sort_fields[sort_by]
            used.add(column)
            # Nulls count as the smallest value on every database (PostgreSQL's default differs).
            order.append(F(column).desc(nulls_last=True) if sort_order == "desc" else F(column).asc(nulls_first=True))
        return order + [F(f).asc() for f in self.default_order if f not in used]


def paging(data: Mapping) -> tuple[int, int | None]:
    """firstResult/maxResults from the query string (Camunda pages lists with query parameters)."""
    first = _to_int("firstResult", data["firstResult"]) if data.get("firstResult") not in (None, "") else 0
    size = _to_int("maxResults", data["maxResults"]) if data.get("maxResults") not in (None, "") else None
    return first, size


def page(queryset: QuerySet, first: int, size: int | None) -> QuerySet:
    if size is None:
        return queryset[first:]
    return queryset[first : first + size]
