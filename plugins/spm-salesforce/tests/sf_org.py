"""The small Salesforce org the tests sync (3 users, 2 accounts, 7 deals, splits, history)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


TOKEN = "00Dxx0000001gPL!AQ4AQFakeToken"


def stamp(day: int, hour: int = 10) -> str:
    return f"2024-03-{day:02d}T{hour:02d}:00:00.000+0000"


def org() -> dict[str, list[dict[str, Any]]]:
    """3 users (Ann manages Bob and Cy), 2 accounts, 7 deals, splits and stage history."""
    users = [
        {"Id": "005A", "Name": "Ann Manager", "Email": "ann@example.com", "ManagerId": None,
         "CreatedDate": "2020-01-06T09:00:00.000+0000", "UserType": "Standard", "UserRole.Name": "Sales Manager",
         "SystemModstamp": stamp(1)},
        {"Id": "005B", "Name": "Bob Rep", "Email": "bob@example.com", "ManagerId": "005A",
         "CreatedDate": "2021-02-01T09:00:00.000+0000", "UserType": "Standard", "UserRole.Name": "AE",
         "SystemModstamp": stamp(1)},
        {"Id": "005C", "Name": "Cy Rep", "Email": "cy@example.com", "ManagerId": "005A",
         "CreatedDate": "2021-03-01T09:00:00.000+0000", "UserType": "Standard", "UserRole.Name": "AE",
         "SystemModstamp": stamp(1)},
        {"Id": "005I", "Name": "Integration", "Email": None, "ManagerId": None,
         "CreatedDate": "2021-03-01T09:00:00.000+0000", "UserType": "AutomatedProcess", "SystemModstamp": stamp(1)},
    ]
    accounts = [
        {"Id": "001A", "Name": "Acme", "Industry": "Retail", "OwnerId": "005B", "IsDeleted": False, "SystemModstamp": stamp(2)},
        {"Id": "001B", "Name": "Globex", "Industry": "Energy", "OwnerId": "005C", "IsDeleted": False, "SystemModstamp": stamp(2)},
    ]
    amounts = ["1000.10", "2500", "333.33", "1234567890123.45", "99.99", "0.01", "42000"]
    opps = []
    for i, amount in enumerate(amounts, start=1):
        opps.append({
            "Id": f"006{i}", "AccountId": "001A" if i % 2 else "001B", "OwnerId": "005B" if i % 2 else "005C",
            "Name": f"Deal {i}", "Amount": float(Decimal(amount)), "StageName": "Closed Won" if i <= 4 else "Prospecting",
            "CreatedDate": f"2024-01-{i:02d}T12:00:00.000+0000", "CloseDate": f"2024-02-{i:02d}",
            "IsClosed": i <= 4, "IsWon": i <= 4, "Type": "New Customer" if i != 2 else "Existing Customer - Upgrade",
            "Contract_Years__c": 3.0 if i == 1 else None, "Product_Family__c": "Platform",
            "IsDeleted": False, "SystemModstamp": stamp(3, i)})
    splits = [
        {"Id": "0Q1", "OpportunityId": "0061", "SplitOwnerId": "005B", "SplitPercentage": 60.0,
         "SplitType.DeveloperName": "Revenue", "IsDeleted": False, "SystemModstamp": stamp(4)},
        {"Id": "0Q2", "OpportunityId": "0061", "SplitOwnerId": "005C", "SplitPercentage": 40.0,
         "SplitType.DeveloperName": "Revenue", "IsDeleted": False, "SystemModstamp": stamp(4)},
        {"Id": "0Q3", "OpportunityId": "0061", "SplitOwnerId": "005A", "SplitPercentage": 100.0,
         "SplitType.DeveloperName": "Overlay", "IsDeleted": False, "SystemModstamp": stamp(4)},
    ]
    history = [
        # deal 1: Prospecting (Jan 1) -> amount change, same stage (Jan 3) -> Negotiation (Jan 10) -> Closed Won (Jan 20)
        {"Id": "008a", "OpportunityId": "0061", "StageName": "Prospecting", "CreatedDate": "2024-01-01T12:00:00.000+0000"},
        {"Id": "008b", "OpportunityId": "0061", "StageName": "Prospecting", "CreatedDate": "2024-01-03T12:00:00.000+0000"},
        {"Id": "008c", "OpportunityId": "0061", "StageName": "Negotiation", "CreatedDate": "2024-01-10T12:00:00.000+0000"},
        {"Id": "008d", "OpportunityId": "0061", "StageName": "Closed Won", "CreatedDate": "2024-01-20T12:00:00.000+0000"},
        {"Id": "008e", "OpportunityId": "0062", "StageName": "Prospecting", "CreatedDate": "2024-01-02T12:00:00.000+0000"},
    ]
    for h in history:
        h.update({"IsDeleted": False, "SystemModstamp": stamp(5)})
    return {"User": users, "Account": accounts, "Opportunity": opps, "OpportunitySplit": splits,
            "OpportunityHistory": history}
