from shipyard import flow, step


@step
def one() -> int:
    return 1


@flow
def first():
    return one()


@flow
def second():
    return one()
