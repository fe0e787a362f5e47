"""How the operator talks to the cluster: the one API adapter (kube.py), the kinds it
touches, discovery of optional APIs, and the RBAC its calls need."""
