"""Loyalty programs: earn rules, tiers, members and their points ledger, rewards and coupons."""
