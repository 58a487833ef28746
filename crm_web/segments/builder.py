"""The rule builder's form: criteria JSON to form fields and back, and the builder's actions.

Each node of the criteria has a path: the root group is "r", its third rule "r.2", a rule in
a nested group "r.1.0". A group posts `c-<path>-match`; a rule posts `c-<path>-field`, `-op`,
`-value` (several for "is one of" a choice) and `-value2` (the upper bound of "between").
The posted fields become the raw criteria JSON again (values as typed), which the one
checker (criteria.parse) reads for the API and the pages alike.
"""

from dataclasses import dataclass, field

from werkzeug.datastructures import MultiDict

from crm_web.segments import registry
from crm_web.segments.criteria import MAX_DEPTH
from crm_web.segments.registry import NO_VALUE, TWO_VALUES

ROOT = "r"
PREFIX = "c-"


def _key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in path.split(".")[1:])


def from_form(form: MultiDict) -> dict:
    """The raw criteria the builder's fields describe (values as typed)."""
    nodes: dict[str, dict] = {}
    for name in form:
        if not name.startswith(PREFIX):
            continue
        path, _dash, attribute = name[len(PREFIX) :].rpartition("-")
        if not path or not all(part.isdigit() for part in path.split(".")[1:]):
            continue
        if path.split(".")[0] != ROOT:
            continue
        node = nodes.setdefault(path, {})
        if attribute == "match":
            node.setdefault("rules", [])
            node["match"] = form.get(name)
        elif attribute in ("field", "op"):
            node[attribute] = form.get(name, "")
        elif attribute == "value":
            values = [value for value in form.getlist(name)]
            node["value"] = values if len(values) > 1 else (values[0] if values else "")
        elif attribute == "value2":
            node["value2"] = form.get(name, "")
    nodes.setdefault(ROOT, {"match": "all", "rules": []})
    nodes[ROOT].setdefault("rules", [])
    nodes[ROOT].setdefault("match", "all")
    for path in sorted((p for p in nodes if p != ROOT), key=_key):
        parent = nodes.get(path.rpartition(".")[0])
        if parent is None or "rules" not in parent:
            continue
        parent["rules"].append(nodes[path])
    return _shape(nodes[ROOT])


def _shape(node: dict) -> dict:
    """A group or rule in the JSON's own shape (between's two values as a list)."""
    if "rules" in node:
        return {"match": node.get("match", "all"), "rules": [_shape(r) for r in node["rules"]]}
    rule = {"field": node.get("field", ""), "op": node.get("op", "")}
    if rule["op"] in TWO_VALUES:
        first = node.get("value", "")
        rule["value"] = [first if isinstance(first, str) else "", node.get("value2", "")]
    elif rule["op"] == "in" and isinstance(node.get("value"), str):
        rule["value"] = node["value"]
    elif rule["op"] not in NO_VALUE:
        rule["value"] = node.get("value", "")
    return rule


def _node(criteria: dict, path: str):
    node = criteria
    for index in _key(path):
        node = node["rules"][index]
    return node


def apply(criteria: dict, action: str) -> dict:
    """The criteria after a builder button: `add_rule:<path>`, `add_group:<path>` (into the
    group at path) or `remove:<path>`; anything else leaves them as they are."""
    verb, _colon, path = action.partition(":")
    try:
        target = _node(criteria, path) if path.startswith(ROOT) else None
    except (IndexError, KeyError, ValueError, TypeError):
        target = None
    if target is None:
        return criteria
    if verb == "add_rule" and "rules" in target:
        first = registry.all_fields()[0]
        target["rules"].append({"field": first.name, "op": first.operators[0], "value": ""})
    elif verb == "add_group" and "rules" in target and len(_key(path)) < MAX_DEPTH:
        target["rules"].append({"match": "any", "rules": []})
    elif verb == "remove" and path != ROOT:
        parent = _node(criteria, path.rpartition(".")[0])
        del parent["rules"][_key(path)[-1]]
    return criteria


@dataclass
class Node:
    """A node as the builder draws it: its path, what was posted, its field and its errors."""

    path: str
    raw: dict
    errors: dict[str, str]
    children: list["Node"] = field(default_factory=list)

    @property
    def is_group(self) -> bool:
        return "rules" in self.raw

    @property
    def depth(self) -> int:
        return len(_key(self.path))

    @property
    def field(self) -> registry.SegmentField:
        return registry.get(self.raw.get("field", "")) or registry.all_fields()[0]

    @property
    def op(self) -> str:
        op = self.raw.get("op")
        return op if op in self.field.operators else self.field.operators[0]

    @property
    def values(self) -> list[str]:
        value = self.raw.get("value", "")
        if isinstance(value, list):
            return [str(item) for item in value]
        return [str(value)] if value not in (None, "") else []

    @property
    def value(self) -> str:
        value = self.raw.get("value", "")
        if isinstance(value, list):
            if self.op == "in":
                return ", ".join(str(item) for item in value)
            return str(value[0]) if value else ""
        return (
            "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        )

    @property
    def value2(self) -> str:
        value = self.raw.get("value")
        return str(value[1]) if isinstance(value, list) and len(value) > 1 else ""

    def error(self, leaf: str = "") -> str:
        """The error of this node (or of its `leaf`: field, op, value)."""
        return self.errors.get(_error_key(self.path, leaf), "")


def _error_key(path: str, leaf: str) -> str:
    name = ".".join(f"rules[{index}]" for index in _key(path))
    return f"{name}.{leaf}" if name and leaf else name or leaf


def tree(criteria: dict, errors: dict[str, str] | None = None, path: str = ROOT) -> Node:
    """The criteria as nodes to draw, each with the errors the checker gave its path."""
    errors = {key.removeprefix("criteria."): message for key, message in (errors or {}).items()}
    return _tree(criteria if isinstance(criteria, dict) else {}, errors, path)


def _tree(raw: dict, errors: dict, path: str) -> Node:
    node = Node(path, raw, errors)
    if "rules" in raw and isinstance(raw["rules"], list):
        node.children = [
            _tree(child if isinstance(child, dict) else {}, errors, f"{path}.{index}")
            for index, child in enumerate(raw["rules"])
        ]
    return node


def grouped_fields() -> list[tuple[str, list[registry.SegmentField]]]:
    """The fields under their group labels, in declaration order."""
    groups: dict[str, list] = {}
    for segment_field in registry.all_fields():
        groups.setdefault(str(segment_field.group), []).append(segment_field)
    return list(groups.items())
