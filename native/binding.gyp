{
  "targets": [
    {
      "target_name": "broker_native",
      "sources": ["broker-native.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
