from shipyard import step


@step
def a() -> int:
    return 1
