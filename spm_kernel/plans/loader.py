"""Read and validate plan files; report every problem with file, path, line and expectation.

>>> plan = load_plan_file("plans/ae-plan-v1.yaml", ws.registry.plan_types)   # doctest: +SKIP

A problem reads ``plans/ae.yaml:14: components[0].tiers[2].rate: Input should be a valid
decimal (got 'six percent')``. All problems of a file are collected before raising
:class:`PlanValidationError` (its ``problems`` list holds them as dicts). YAML numbers with a
decimal point are read as exact ``Decimal`` values, never binary floats.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import BaseModel, ValidationError

from spm_kernel.errors import SPMError
from spm_kernel.extensions import PlanType
from spm_kernel.plans.model import HEADER_KEYS, ComponentHeader, Plan, PlanComponent, PlanFile

Loc = tuple[str | int, ...]


class PlanTypes(Protocol):
    """What the loader needs from ``ws.registry.plan_types``."""

    def __contains__(self, name: object) -> bool: ...
    def __getitem__(self, name: str) -> PlanType: ...
    def names(self) -> list[str]: ...


@dataclass(frozen=True)
class Problem:
    file: str
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path or '(top)'}: {self.message}"


class PlanValidationError(SPMError):
    """A plan file that is not valid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        head = f"{len(problems)} problem(s) in plan file {problems[0].file}" if problems else "invalid plan"
        super().__init__("\n".join([head, *(f"  {p}" for p in problems)]))


# ---- YAML with exact decimals and line numbers ----
class _DecimalLoader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """Safe YAML loader (libyaml's parser when PyYAML has it) that reads floats as exact Decimals."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal:
    text = str(node.value).replace("_", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise yaml.constructor.ConstructorError(None, None, f"{node.value!r} is not a finite number",
                                                node.start_mark)
    return value


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)


def _marked(tag: str) -> None:
    """Re-register the constructor of ``tag`` so a value it cannot build (``2026-02-30``, an
    integer of 5,000 digits) is a YAML error at its line, not a raw ValueError."""
    inner = _DecimalLoader.yaml_constructors[tag]

    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        try:
            return inner(loader, node)
        except (ValueError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(None, None, f"{node.value!r} cannot be read: {exc}",
                                                    node.start_mark) from None

    _DecimalLoader.add_constructor(tag, construct)


for _tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:timestamp"):
    _marked(_tag)


def _line_map(node: yaml.Node, path: Loc = (), out: dict[Loc, int] | None = None) -> dict[Loc, int]:
    """Map every path inside the document to its 1-based line."""
    out = {} if out is None else out
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            _line_map(value_node, (*path, key), out)
            out[(*path, key, "__key__")] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, (*path, i), out)
    return out


MAX_YAML_VALUES = 100_000
MAX_YAML_DEPTH = 64
MAX_PLAN_CHARS = 2_000_000


def _flow_depth_line(text: str) -> int | None:
    """The line where ``[``/``{`` brackets first nest deeper than :data:`MAX_YAML_DEPTH` (the
    YAML parser recurses once per level, so ``[[[[...`` is refused before it is parsed)."""
    if text.count("[") + text.count("{") <= MAX_YAML_DEPTH:
        return None
    depth = 0
    for number, line in enumerate(text.splitlines(), start=1):
        for ch in line:
            if ch in "[{":
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    return number
            elif ch in "]}":
                depth = max(0, depth - 1)
    return None


def _check_size(node: yaml.Node, file: str) -> None:
    """Refuse a document that expands (through YAML aliases: ``&a [*b, *b, ...]``, the
    "billion laughs") to more than :data:`MAX_YAML_VALUES` values or nests deeper than
    :data:`MAX_YAML_DEPTH`, before anything walks or builds it. Stops counting at the limit."""
    count = 0
    stack: list[tuple[yaml.Node, int]] = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        count += 1
        if count > MAX_YAML_VALUES:
            raise PlanValidationError([Problem(file, "", None, f"the plan expands to more than {MAX_YAML_VALUES:,} "
                                                               f"values (YAML aliases?); a plan is much smaller")])
        if depth > MAX_YAML_DEPTH:
            raise PlanValidationError([Problem(file, "", current.start_mark.line + 1,
                                               f"values are nested more than {MAX_YAML_DEPTH} levels deep")])
        if isinstance(current, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in current.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                    line = key_node.start_mark.line + 1
                    if key_node.value in seen:  # YAML would silently keep the last one
                        raise PlanValidationError([Problem(
                            file, str(key_node.value), line,
                            f"{key_node.value!r} is given twice (also on line {seen[key_node.value]})")])
                    seen[key_node.value] = line
                stack.append((key_node, depth + 1))
                stack.append((value_node, depth + 1))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((item, depth + 1) for item in current.value)


def parse_yaml(text: str, file: str) -> tuple[Any, dict[Loc, int]]:
    """The document and its line map; a YAML syntax error, a document nested too deeply or one
    that expands to too many values (an alias bomb) becomes a PlanValidationError."""
    if len(text) > MAX_PLAN_CHARS:
        raise PlanValidationError([Problem(file, "", None, f"the file is {len(text):,} characters long; a plan "
                                                           f"file is at most {MAX_PLAN_CHARS:,}")])
    deep = _flow_depth_line(text)
    if deep is not None:
        raise PlanValidationError([Problem(file, "", deep, f"values are nested more than {MAX_YAML_DEPTH} levels deep")])
    try:
        loader = _DecimalLoader(text)
    except yaml.YAMLError as exc:  # characters YAML does not allow (NUL, most controls)
        raise PlanValidationError([Problem(file, "", None, f"not valid YAML: {exc}")]) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise PlanValidationError([Problem(file, "", 1, "the file is empty; expected a plan mapping")])
        _check_size(node, file)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise PlanValidationError([Problem(file, "", line, f"not valid YAML: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise PlanValidationError([Problem(file, "", None, f"not valid YAML: {exc}")]) from None
    except RecursionError:
        raise PlanValidationError([Problem(file, "", None, "not valid YAML: nested too deeply to read")]) from None
    finally:
        loader.dispose()
    return data, _line_map(node)


def format_loc(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line_for(lines: dict[Loc, int], loc: Loc, key: bool = False) -> int | None:
    if key and (*loc, "__key__") in lines:
        return lines[(*loc, "__key__")]
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _model_fields_at(model: type[BaseModel], loc: Loc) -> list[str] | None:
    """The field names (aliases) of the model found by walking ``loc`` from ``model``."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        fld = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
        if fld is None:
            return None
        current = _inner_model(fld.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _pydantic_problems(exc: ValidationError, model: type[BaseModel], prefix: Loc, file: str,
                       lines: dict[Loc, int]) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc: Loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
        full = (*prefix, *loc)
        if err["type"] == "extra_forbidden":
            known = _model_fields_at(model, loc[:-1]) or []
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            message = f"unknown option {loc[-1]!r}{hint} (expected one of: {', '.join(known)})" if known \
                else f"unknown option {loc[-1]!r}"
            problems.append(Problem(file, format_loc(full), _line_for(lines, full, key=True), message))
            continue
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] not in ("missing", "value_error", "assertion_error") and "input" in err:
            shown = err["input"]
            if not isinstance(shown, (dict, list)):
                message += f" (got {shown!r})"
        problems.append(Problem(file, format_loc(full), _line_for(lines, full), message))
    return problems


def numbers_too_large(value: Any, loc: Loc = ()) -> Iterable[tuple[Loc, str]]:
    """(path, message) for every number in a validated plan setting whose magnitude is
    10^15 or more: ``rate: 1e999999999`` is a valid decimal, but no rate, amount or threshold
    that large means anything, and it would overflow the money columns mid-calculation."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="python", by_alias=True)
    if isinstance(value, dict):
        for key, item in value.items():
            yield from numbers_too_large(item, (*loc, key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from numbers_too_large(item, (*loc, i))
    elif isinstance(value, (Decimal, int, float)) and not isinstance(value, bool):
        number = Decimal(value) if not isinstance(value, Decimal) else value
        if number.is_finite() and number != 0 and number.adjusted() >= 15:  # |number| >= 10^15, no arithmetic
            yield loc, f"{number:.3E} is too large: numbers in a plan stay below 10^15"


def validate_plan_data(data: Any, plan_types: PlanTypes, file: str,
                       lines: dict[Loc, int] | None = None) -> tuple[PlanFile, tuple[PlanComponent, ...]]:
    """Validate a parsed plan document; raise PlanValidationError with every problem."""
    lines = lines or {}
    if not isinstance(data, dict):
        raise PlanValidationError([Problem(file, "", 1, f"expected a mapping of plan settings, got {type(data).__name__}")])
    problems: list[Problem] = []
    try:
        spec = PlanFile.model_validate(data)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, PlanFile, (), file, lines))
        spec = None
    components: list[PlanComponent] = []
    raw_components = data.get("components") if isinstance(data.get("components"), list) else []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_components):
        loc: Loc = ("components", i)
        if not isinstance(raw, dict):
            continue  # PlanFile already reported it
        try:
            header = ComponentHeader.model_validate({k: v for k, v in raw.items() if k in HEADER_KEYS})
        except ValidationError as exc:
            problems.extend(_pydantic_problems(exc, ComponentHeader, loc, file, lines))
            continue
        if header.id in seen:
            problems.append(Problem(file, format_loc((*loc, "id")), _line_for(lines, (*loc, "id")),
                                    f"component id {header.id!r} is already used by components[{seen[header.id]}]"))
        seen[header.id] = i
        if header.type not in plan_types:
            names = plan_types.names()
            close = difflib.get_close_matches(header.type, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(Problem(file, format_loc((*loc, "type")), _line_for(lines, (*loc, "type")),
                                    f"unknown plan type {header.type!r}{hint}; available plan types: "
                                    f"{', '.join(names) or 'none'}"))
            continue
        plan_type = plan_types[header.type]
        options = {k: v for k, v in raw.items() if k not in HEADER_KEYS}
        try:
            config = plan_type.config_model.model_validate(options)
        except ValidationError as exc:
            problems.extend(_pydantic_problems(exc, plan_type.config_model, loc, file, lines))
            continue
        for rel, message in numbers_too_large(config):
            full = (*loc, *rel)
            problems.append(Problem(file, format_loc(full), _line_for(lines, full), message))
        for rel, message in plan_type.validate_plan_config(config):
            full = (*loc, *rel)
            problems.append(Problem(file, format_loc(full), _line_for(lines, full), message))
        components.append(PlanComponent(header.id, header.type, header.label or header.id,
                                        header.description, plan_type, config))
    if spec is not None:
        for rel, message in numbers_too_large(spec.model_dump(mode="python", by_alias=True, exclude={"components"})):
            problems.append(Problem(file, format_loc(rel), _line_for(lines, rel), message))
    if problems or spec is None:
        raise PlanValidationError(problems)
    return spec, tuple(components)


def load_plan_text(text: str, plan_types: PlanTypes, file: str = "<plan>", path: Path | None = None) -> Plan:
    """Validate the YAML text of a plan file."""
    data, lines = parse_yaml(text, file)
    spec, components = validate_plan_data(data, plan_types, file, lines)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Plan(spec, components, path, digest, text)


def load_plan_file(path: str | Path, plan_types: PlanTypes) -> Plan:
    """Read and validate one plan file."""
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise PlanValidationError([Problem(str(path), "", None, f"cannot read the file: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise PlanValidationError([Problem(str(path), "", None, "the file is not UTF-8 text")]) from None
    return load_plan_text(text, plan_types, str(path), path)
