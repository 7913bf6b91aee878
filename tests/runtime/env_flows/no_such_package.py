from shipyard import flow, step


@step(pip=["shipyard-test-no-such-package-zq7==1.0"])
def ghost() -> int:
    return 1


@flow
def no_such_package():
    return ghost()
