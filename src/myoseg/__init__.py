"""myoseg: scanner-inline LV myocardium segmentation on cardiac T1/T2 maps.

Import map (setuptools package-dir):
  myoseg.core      image-analysis core (no streaming imports): types, intake, refine, quantify
  myoseg.stream    MRD v1 wire protocol, connections, chain runner, server, replay client
  myoseg.sim       physics-based simulator of MOLLI / T2-prep maps
  myoseg.gadgets   <- gadgets/   Gadgetron external Python gadgets
  myoseg.models    <- models/    network, preprocessing, inference backends, shipped weights
  myoseg.tools     <- tools/     command-line tools behind `myoseg`
  myoseg.pipelines <- pipelines/ Gadgetron v2 stream XML files
"""

__version__ = "0.1.0"
