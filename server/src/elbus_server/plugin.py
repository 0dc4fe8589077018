"""What a broker plug-in (such as ``elbus-cluster``) builds on: the cluster protocols and the routing trees.

Programs that embed or run a broker need none of this; `elbus_server`'s
own namespace lists what they use. A plug-in imports from here, so the
broker's private modules stay free to change.
"""

from ._cluster import ENTRY_POINT_GROUP, AckCallback, ClusterHost, ClusterLink, load_cluster
from ._peer import Peer
from ._routing import NameTree, TopicTree

__all__ = [
    "ENTRY_POINT_GROUP",
    "AckCallback",
    "ClusterHost",
    "ClusterLink",
    "NameTree",
    "Peer",
    "TopicTree",
    "load_cluster",
]
