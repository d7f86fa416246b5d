"""The Python API of the devcluster, for the tests and the demo.

from devcluster.api import Cluster
c = Cluster()              # $DEVCLUSTER_HOME or <repo>/.devcluster
c.up(apiservers=3, nodes=3)
c.break_fault("proxy-cert-expired", apiserver=2)
c.heal()
c.restart_apiserver(1)
c.kubeconfig("metrics-guard"); c.status(); c.down()
"""

from devcluster.cluster import Cluster
from devcluster.errors import DevclusterError, UsageError
from devcluster.faults import FAULTS

__all__ = ["FAULTS", "Cluster", "DevclusterError", "UsageError"]
