/* The OpenAI-compatible test server (tests/support/llm_test_server.*) from
 * a C test: start_server runs `foldback_llm_test_server --port 0 --script
 * SCRIPT --quiet` and reads the URL it listens on; stop_server ends it.
 * The includer defines _POSIX_C_SOURCE (200809L) before any include. */
#ifndef FOLDBACK_TESTS_C_TEST_SERVER_H_
#define FOLDBACK_TESTS_C_TEST_SERVER_H_

#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

/* Starts the server `bin` with `script`; returns its pid, or -1, and its URL
 * in `url` (`size` bytes). */
static inline pid_t start_server(const char* bin, const char* script, char* url, size_t size) {
  int fds[2];
  pid_t pid = -1;
  char line[512];
  FILE* out;
  char* argv[7];
  posix_spawn_file_actions_t fa;
  argv[0] = (char*)bin;
  argv[1] = (char*)"--port";
  argv[2] = (char*)"0";
  argv[3] = (char*)"--script";
  argv[4] = (char*)script;
  argv[5] = (char*)"--quiet";
  argv[6] = NULL;
  if (pipe(fds) != 0) return -1;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  if (posix_spawn(&pid, bin, &fa, NULL, argv, environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  out = fdopen(fds[0], "r");
  url[0] = '\0';
  if (out && pid > 0 && fgets(line, sizeof line, out) && strncmp(line, "listening on ", 13) == 0) {
    line[strcspn(line, "\n")] = '\0';
    if (strlen(line + 13) < size) memcpy(url, line + 13, strlen(line + 13) + 1);
  }
  if (out) fclose(out);
  if (pid > 0 && !url[0]) {
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    pid = -1;
  }
  return pid;
}

/* Ends a server start_server started (nothing for pid <= 0). */
static inline void stop_server(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
}

#endif /* FOLDBACK_TESTS_C_TEST_SERVER_H_ */
