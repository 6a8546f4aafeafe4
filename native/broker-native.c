/*
 * The few Linux process controls Node has no API for: making the daemon non-dumpable (no core
 * file, no /proc/<pid>/environ or /proc/<pid>/mem for other processes of the same user) and
 * reading the credentials of a Unix socket's peer (SO_PEERCRED). Plain Node-API, no C++.
 * On other systems every function throws ENOSYS; the TypeScript loader does not call them there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <node_api.h>

#ifdef __linux__
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#endif

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char message[160];
  const char *code = err == ENOSYS ? "ENOSYS" : err == EBADF ? "EBADF" : err == ENOTSOCK ? "ENOTSOCK" : err == EPERM ? "EPERM" : "EIO";
  strncpy(message, what, sizeof message - 40);
  message[sizeof message - 40] = '\0';
  strcat(message, ": ");
  strncat(message, strerror(err), 36);
  napi_throw_error(env, code, message);
  return NULL;
}

/* makeNonDumpable(): core size 0 (soft and hard, so a child's `ulimit -c unlimited` cannot raise
 * it back), then PR_SET_DUMPABLE 0. Throws if either fails. */
static napi_value make_non_dumpable(napi_env env, napi_callback_info info) {
  (void)info;
#ifdef __linux__
  struct rlimit none = {0, 0};
  if (setrlimit(RLIMIT_CORE, &none) != 0) return throw_errno(env, "setrlimit(RLIMIT_CORE, 0)", errno);
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return throw_errno(env, "prctl(PR_SET_DUMPABLE, 0)", errno);
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
#else
  return throw_errno(env, "makeNonDumpable", ENOSYS);
#endif
}

/* isDumpable(): true when the kernel would write a core or let others read /proc/<pid>/environ. */
static napi_value is_dumpable(napi_env env, napi_callback_info info) {
  (void)info;
#ifdef __linux__
  int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  if (dumpable < 0) return throw_errno(env, "prctl(PR_GET_DUMPABLE)", errno);
  struct rlimit core;
  if (getrlimit(RLIMIT_CORE, &core) != 0) return throw_errno(env, "getrlimit(RLIMIT_CORE)", errno);
  napi_value result;
  napi_get_boolean(env, dumpable != 0 || core.rlim_cur != 0, &result);
  return result;
#else
  return throw_errno(env, "isDumpable", ENOSYS);
#endif
}

static void set_number(napi_env env, napi_value object, const char *name, double value) {
  napi_value number;
  napi_create_double(env, value, &number);
  napi_set_named_property(env, object, name, number);
}

/* peerCredentials(fd): {pid, uid, gid} of the process at the other end of a connected Unix socket,
 * as the kernel recorded them at connect() (or socketpair()) time. */
static napi_value peer_credentials(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "peerCredentials(fd) needs a file descriptor number");
    return NULL;
  }
#ifdef __linux__
  struct ucred cred;
  socklen_t length = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) return throw_errno(env, "getsockopt(SO_PEERCRED)", errno);
  napi_value result;
  napi_create_object(env, &result);
  set_number(env, result, "pid", cred.pid);
  set_number(env, result, "uid", cred.uid);
  set_number(env, result, "gid", cred.gid);
  return result;
#else
  return throw_errno(env, "peerCredentials", ENOSYS);
#endif
}

NAPI_MODULE_INIT() {
  napi_property_descriptor functions[] = {
    {"makeNonDumpable", NULL, make_non_dumpable, NULL, NULL, NULL, napi_enumerable, NULL},
    {"isDumpable", NULL, is_dumpable, NULL, NULL, NULL, napi_enumerable, NULL},
    {"peerCredentials", NULL, peer_credentials, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
  return exports;
}
