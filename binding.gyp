{
  "targets": [
    {
      "target_name": "wasmvs_tap",
      "sources": ["host/io/native/tap.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
