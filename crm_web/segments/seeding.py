"""Demo segments: a few dynamic ones over the seeded customers, and a static one."""

from crm_web.segments.services import create_segment

DEMO_SEGMENTS = (
    {
        "segment_name": "VIP customers in Türkiye",
        "segment_type": "value",
        "criteria": {
            "match": "all",
            "rules": [
                {"field": "tags", "op": "contains", "value": "vip"},
                {"field": "country", "op": "eq", "value": "TR"},
            ],
        },
    },
    {
        "segment_name": "Engaged newsletter readers",
        "segment_type": "behavioral",
        "criteria": {
            "match": "all",
            "rules": [
                {"field": "email_opt_in", "op": "eq", "value": True},
                {
                    "match": "any",
                    "rules": [
                        {"field": "tags", "op": "contains", "value": "newsletter"},
                        {"field": "lifecycle_stage", "op": "in", "value": ["loyal", "champion"]},
                    ],
                },
            ],
        },
    },
    {
        "segment_name": "At risk",
        "segment_type": "behavioral",
        "criteria": {
            "match": "any",
            "rules": [
                {"field": "tags", "op": "contains", "value": "at-risk"},
                {"field": "lifecycle_stage", "op": "eq", "value": "churned"},
            ],
        },
    },
    {
        "segment_name": "Wholesale at launch",
        "segment_type": "custom",
        "is_dynamic": False,
        "criteria": {"rules": [{"field": "tags", "op": "contains", "value": "wholesale"}]},
    },
)


def seed_segments() -> int:
    """The demo segments, with their members taken now; returns how many."""
    for values in DEMO_SEGMENTS:
        create_segment(dict(values))
    return len(DEMO_SEGMENTS)
