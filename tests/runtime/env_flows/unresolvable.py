from shipyard import flow, step


@step(pip=["six==1.15.0", "six>=1.16"])
def torn() -> int:
    return 1


@flow
def unresolvable():
    return torn()
