"""Offline bundles: ``rebuild-env pack`` stores a plan's artifacts in the bundle
(:mod:`.packing`), ``--offline`` plans and installs from them alone (:mod:`.offline`).

The pack's layout and record are described in :mod:`.record`.
"""
