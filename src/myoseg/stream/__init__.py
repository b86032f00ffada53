"""The streaming layer: MRD v1 wire format, socket connections, pipelines, chain runner, server, client.

Modules (each with one job):
  wire        byte layout of every message, bounded readers and writers, ProtocolError
  connection  a socket with timeouts and a write lock that reads/sends MRD items
  external    Gadgetron <external><execute> support: gadgetron_target(GadgetClass)
  pipeline    Gadgetron v2 stream XML -> frozen PipelineSpec (validated before any image)
  chain       in-process chain of gadgets with per-stage timings
  server      the warm multi-connection server behind `myoseg serve`
  client      MrdClient and replay_file behind `myoseg replay`

Nothing in myoseg.core imports from here.
"""
