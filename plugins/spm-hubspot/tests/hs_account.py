"""The HubSpot account the tests sync: 3 owners in one team, 2 companies and 7 deals."""

from __future__ import annotations

from typing import Any


TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"


def modified(day: int, hour: int = 10) -> str:
    return f"2024-03-{day:02d}T{hour:02d}:00:00.000Z"


def owners() -> list[dict[str, Any]]:
    team = [{"id": "T1", "name": "Enterprise East", "primary": True}]
    return [
        {"id": "101", "email": "ann@example.com", "firstName": "Ann", "lastName": "Lee", "userId": 1,
         "createdAt": "2020-01-06T09:00:00.000Z", "updatedAt": "2024-01-01T00:00:00.000Z", "archived": False, "teams": team},
        {"id": "102", "email": "bob@example.com", "firstName": "Bob", "lastName": "Ray", "userId": 2,
         "createdAt": "2021-02-01T09:00:00.000Z", "updatedAt": "2024-01-01T00:00:00.000Z", "archived": False, "teams": team},
        {"id": "103", "email": "cy@example.com", "firstName": "Cy", "lastName": "Old", "userId": 3,
         "createdAt": "2021-03-01T09:00:00.000Z", "updatedAt": "2024-02-15T00:00:00.000Z", "archived": True, "teams": []},
    ]


def pipelines() -> list[dict[str, Any]]:
    stage = lambda i, l, closed, p, o: {"id": i, "label": l, "displayOrder": o, "archived": False,  # noqa: E731
                                       "createdAt": "2020-01-01T00:00:00Z", "updatedAt": "2020-01-01T00:00:00Z",
                                       "metadata": {"isClosed": closed, "probability": p}}
    return [{"id": "default", "label": "Sales Pipeline", "displayOrder": 0, "archived": False,
             "createdAt": "2020-01-01T00:00:00Z", "updatedAt": "2020-01-01T00:00:00Z",
             "stages": [stage("appointmentscheduled", "Appointment Scheduled", "false", "0.2", 0),
                        stage("contractsent", "Contract Sent", "false", "0.9", 1),
                        stage("closedwon", "Closed Won", "true", "1.0", 2),
                        stage("closedlost", "Closed Lost", "true", "0.0", 3)]}]


def deal(i: int, amount: str, stage: str, **props: Any) -> dict[str, Any]:
    p = {"dealname": f"Deal {i}", "amount": amount, "dealstage": stage, "pipeline": "default",
         "hubspot_owner_id": "102" if i % 2 else "101", "createdate": f"2024-01-{i:02d}T12:00:00.000Z",
         "closedate": f"2024-02-{i:02d}T00:00:00.000Z", "dealtype": "newbusiness" if i != 2 else "existingbusiness",
         "hs_lastmodifieddate": modified(3, i), "hs_date_entered_appointmentscheduled": f"2024-01-{i:02d}T12:00:00.000Z"}
    if stage == "closedwon":
        p["hs_date_entered_contractsent"] = f"2024-01-{i + 10:02d}T12:00:00.000Z"
        p["hs_date_entered_closedwon"] = f"2024-02-{i:02d}T00:00:00.000Z"
    p.update(props)
    return {"id": str(900 + i), "properties": p, "createdAt": p["createdate"], "updatedAt": p["hs_lastmodifieddate"],
            "archived": False, "companies": ["501" if i % 2 else "502"]}


def objects() -> dict[str, list[dict[str, Any]]]:
    companies = [
        {"id": "501", "properties": {"name": "Acme", "industry": "RETAIL", "hubspot_owner_id": "102",
                                     "hs_lastmodifieddate": modified(2)},
         "createdAt": "2023-01-01T00:00:00Z", "updatedAt": modified(2), "archived": False},
        {"id": "502", "properties": {"name": "Globex", "industry": "UTILITIES", "hubspot_owner_id": "101",
                                     "hs_lastmodifieddate": modified(2)},
         "createdAt": "2023-01-01T00:00:00Z", "updatedAt": modified(2), "archived": False},
    ]
    amounts = ["1000.10", "2500", "333.33", "1234567890123.45", "99.99", "0.01", "42000"]
    deals = [deal(i, a, "closedwon" if i <= 4 else "appointmentscheduled") for i, a in enumerate(amounts, 1)]
    return {"companies": companies, "deals": deals}


