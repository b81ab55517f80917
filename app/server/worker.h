/*
 * worker.h: the HTTP worker (FastCGI accept loop) and the job worker loop.
 */
#ifndef AISPM_SERVER_WORKER_H
#define AISPM_SERVER_WORKER_H

#include "server/http.h"

/* serves requests on listen_fd until told to stop (SIGTERM: drain the
 * backlog then exit; SIGUSR1: retire after the current request) or until
 * max_requests; returns the process exit status */
int http_worker_run(app_t *app, int listen_fd);
/* one request, already accepted (exposed for tests of the pipeline) */
void http_handle(app_t *app, FCGX_Request *fx);
/* background loop: evidence sequencer, checkpoints, jobs */
int job_worker_run(app_t *app);

#endif
