"""The labelled scenario suite: small real training runs, each with the verdict it should get.

See harness.py for what a scenario declares, and tests/test_scenarios.py for how they are judged.
"""
