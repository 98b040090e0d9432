#include "config.h"

#include "restore.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "agent.h"
#include "conf.h"
#include "dtlog.h"
#include "link.h"
#include "op.h"
#include "repset.h"
#include "source.h"
#include "wire.h"

#define DEFAULT_PORT 1500

/* ----------------------------------------------------------------- backup */

char *restore_backup_format(const struct repset *rs, uint32_t con_id,
			    const char *root, const char *const *roots,
			    const char *const *rels, size_t n)
{
	config_t cfg;
	config_setting_t *top, *map, *pair;
	struct util_buf def;
	char *text = NULL;
	size_t len = 0, i;

	config_init(&cfg);
	util_buf_init(&def);
	util_buf_puts(&def, "ditto-repsets 1\n");
	repset_format_one(rs, &def);
	top = config_root_setting(&cfg);
	config_setting_set_string(config_setting_add(top, "repset", CONFIG_TYPE_STRING), repset_name(rs));
	config_setting_set_int64(config_setting_add(top, "con_id", CONFIG_TYPE_INT64), con_id);
	config_setting_set_string(config_setting_add(top, "root", CONFIG_TYPE_STRING), root);
	map = config_setting_add(top, "map", CONFIG_TYPE_LIST);
	for (i = 0; i < n; i++) {
		pair = config_setting_add(map, NULL, CONFIG_TYPE_ARRAY);
		config_setting_set_string_elem(pair, -1, rels[i]);
		config_setting_set_string_elem(pair, -1, roots[i]);
	}
	config_setting_set_string(config_setting_add(top, "definition", CONFIG_TYPE_STRING), def.data);
	text = conf_text(&cfg, &len);
	util_buf_free(&def);
	config_destroy(&cfg);
	return text;
}

void restore_backup_free(struct restore_backup *b)
{
	size_t i;

	for (i = 0; i < b->nmap; i++) {
		free(b->map[i].rel);
		free(b->map[i].abs);
	}
	free(b->map);
	free(b->repset);
	free(b->root);
	free(b->definition);
	memset(b, 0, sizeof(*b));
}

static bool abs_ok(const char *p)
{
	return p && p[0] == '/' && strlen(p) <= DITTO_PATH_MAX &&
	       (p[1] == '\0' || op_path_valid(p + 1, strlen(p + 1)));
}

int restore_backup_parse(const char *text, size_t len,
			 struct restore_backup *b, char *err, size_t errlen)
{
	config_t cfg;
	config_setting_t *map;
	const char *rs = NULL, *root = NULL, *def = NULL;
	char *copy = util_xstrndup(text, len);
	long long id = 0;
	int i, n, ret = -1;

	memset(b, 0, sizeof(*b));
	config_init(&cfg);
	if (!config_read_string(&cfg, copy)) {
		snprintf(err, errlen, "line %d: %s", config_error_line(&cfg), config_error_text(&cfg));
		goto done;
	}
	if (!config_lookup_string(&cfg, "repset", &rs) || !config_lookup_string(&cfg, "root", &root) ||
	    !config_lookup_string(&cfg, "definition", &def) || !config_lookup_int64(&cfg, "con_id", &id) ||
	    !(map = config_lookup(&cfg, "map")) || !config_setting_is_list(map)) {
		snprintf(err, errlen, "repset, con_id, root, map and definition are required");
		goto done;
	}
	if (!abs_ok(root) || id <= 0 || id > UINT32_MAX) {
		snprintf(err, errlen, "bad root or connection ID");
		goto done;
	}
	b->repset = util_xstrdup(rs);
	b->root = util_xstrdup(root);
	b->definition = util_xstrdup(def);
	b->con_id = (uint32_t)id;
	n = config_setting_length(map);
	b->map = util_xcalloc(n ? (size_t)n : 1, sizeof(*b->map));
	for (i = 0; i < n; i++) {
		config_setting_t *pair = config_setting_get_elem(map, (unsigned)i);
		const char *rel = config_setting_get_string_elem(pair, 0);
		const char *abs = config_setting_get_string_elem(pair, 1);

		if (!rel || !abs || (rel[0] && !op_path_valid(rel, strlen(rel))) || !abs_ok(abs)) {
			snprintf(err, errlen, "map entry %d is not a relative path and an absolute one", i + 1);
			goto done;
		}
		b->map[b->nmap].rel = util_xstrdup(rel);
		b->map[b->nmap].abs = util_xstrdup(abs);
		b->nmap++;
	}
	if (!b->nmap) {
		snprintf(err, errlen, "the map is empty");
		goto done;
	}
	ret = 0;
done:
	if (ret < 0)
		restore_backup_free(b);
	config_destroy(&cfg);
	free(copy);
	return ret;
}

int restore_backup_find(const char *dir, const char *source, const char *repset,
			struct restore_backup *b, char *err, size_t errlen)
{
	size_t sl = strlen(source);
	struct dirent *de;
	DIR *d = opendir(dir);
	int found = -1;

	if (!d) {
		snprintf(err, errlen, "no backups here (%s: %s)", dir, strerror(errno));
		return -1;
	}
	snprintf(err, errlen, "no backup of replication set %s from %s here", repset, source);
	while (found < 0 && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		char *path, *text;
		size_t len;
		char perr[256];

		if (n <= sl + 1 || strncmp(de->d_name, source, sl) || de->d_name[sl] != '_' ||
		    n < 7 || strcmp(de->d_name + n - 7, ".backup"))
			continue;
		path = util_xasprintf("%s/%s", dir, de->d_name);
		if (util_read_file(path, 1u << 22, &text, &len) == 0) {
			if (restore_backup_parse(text, len, b, perr, sizeof(perr)) < 0)
				dtlog(DTLOG_WARNING, 0, "Backup %s is unusable: %s", path, perr);
			else if (util_streq_ci(b->repset, repset))
				found = 0;
			else
				restore_backup_free(b);
			free(text);
		}
		free(path);
	}
	closedir(d);
	return found;
}

/* -------------------------------------------------------------- requester */

enum job_state { JOB_ASKING, JOB_RUNNING, JOB_DONE, JOB_FAILED };

struct restore_job {
	struct agent *a;
	char *repset;
	char host[256];
	uint16_t port;
	struct wire_restore req;
	enum job_state state;
	bool elsewhere;       /* TO another machine: we do not see the end */
	char peer[WIRE_NAME_MAX + 1];
	char msg[WIRE_MSG_MAX + 512];
	struct link *link;
	struct restore_job *next;
};

static struct restore_job *job_find(struct agent *a, const char *repset)
{
	struct restore_job *j;

	for (j = a->restores; j; j = j->next)
		if (util_streq_ci(j->repset, repset))
			return j;
	return NULL;
}

static void job_fail(struct restore_job *j, const char *why)
{
	j->state = JOB_FAILED;
	snprintf(j->msg, sizeof(j->msg), "restore of %s from %s failed: %s", j->repset, j->host, why);
	dtlog(DTLOG_ERROR, 0, "%s", j->msg);
}

static void job_ready(struct link *l, void *arg)
{
	struct restore_job *j = arg;

	util_strlcpy(j->peer, link_peer_name(l), sizeof(j->peer));
	wire_put_restore(link_out(l), &j->req);
	link_flush(l);
}

static void job_frame(struct link *l, const struct wire_frame *f, void *arg)
{
	static struct wire_restore_answer ans;
	struct restore_job *j = arg;

	if (f->type != WIRE_RESTORE_ANSWER || wire_get_restore_answer(f, &ans) < 0) {
		link_fail(l, WIRE_E_SEQUENCE, "expected RESTORE_ANSWER");
		return;
	}
	if (ans.code) {
		job_fail(j, ans.msg);
	} else {
		if (ans.def[0]) {
			char err[256];

			if (repset_db_find(j->a->repsets, j->repset))
				dtlog(DTLOG_INFO, 0, "Restore of %s: the set exists here; its backup definition is not used", j->repset);
			else if (repset_db_import(j->a->repsets, ans.def, strlen(ans.def), j->repset, err, sizeof(err)) < 0 ||
				 repset_db_save(j->a->repsets, j->a->repsets_path) < 0)
				dtlog(DTLOG_ERROR, 0, "Restore of %s: the backup definition could not be restored: %s",
				      j->repset, err);
			else
				dtlog(DTLOG_INFO, 99, "RepSet Modified: %s (restored from the backup on %s)", j->repset, j->peer);
		}
		j->state = j->elsewhere ? JOB_DONE : JOB_RUNNING;
		snprintf(j->msg, sizeof(j->msg), "%s", ans.msg);
		dtlog(DTLOG_INFO, 97, "Restore started: %s from %s (%s)", j->repset, j->host, ans.msg);
	}
	link_close(l, "restore request answered");
}

static void job_close(struct link *l, const char *why, void *arg)
{
	struct restore_job *j = arg;

	(void)l;
	j->link = NULL;
	if (j->state == JOB_ASKING)
		job_fail(j, why);
}

static const struct link_ops job_ops = {
	.on_ready = job_ready,
	.on_frame = job_frame,
	.on_close = job_close,
};

int restore_start(struct agent *a, const struct restore_request *r, struct util_buf *msg)
{
	struct restore_job *j = job_find(a, r->repset);
	char err[256], to_host[256] = "";
	uint16_t to_port = a->conf.agent.listen.port;

	if (j && (j->state == JOB_ASKING || j->state == JOB_RUNNING)) {
		util_buf_printf(msg, "RESTORE %s: a restore of this set is already running\n", r->repset);
		return -1;
	}
	if (source_replicates(a->source, r->repset)) {
		util_buf_printf(msg, "RESTORE %s: a connection replicates this set; DISCONNECT it first "
				"(restored data would be sent straight back)\n", r->repset);
		return -1;
	}
	if (r->to && (util_parse_hostport(r->to, to_host, sizeof(to_host), &to_port) < 0 || !to_host[0])) {
		util_buf_printf(msg, "RESTORE: bad destination %s (host[:port])\n", r->to);
		return -1;
	}
	if (!j) {
		j = util_xcalloc(1, sizeof(*j));
		j->a = a;
		j->repset = util_xstrdup(r->repset);
		j->next = a->restores;
		a->restores = j;
	}
	j->port = DEFAULT_PORT;
	if (util_parse_hostport(r->from, j->host, sizeof(j->host), &j->port) < 0 || !j->host[0]) {
		util_buf_printf(msg, "RESTORE: bad target %s (host[:port])\n", r->from);
		job_fail(j, "bad target");
		return -1;
	}
	memset(&j->req, 0, sizeof(j->req));
	util_strlcpy(j->req.repset, r->repset, sizeof(j->req.repset));
	util_strlcpy(j->req.source, a->conf.agent.name, sizeof(j->req.source));
	util_strlcpy(j->req.host, to_host, sizeof(j->req.host));
	j->req.port = to_port;
	j->req.options = r->options;
	j->elsewhere = r->to != NULL;
	j->state = JOB_ASKING;
	j->msg[0] = '\0';
	j->link = link_dial(a->loop, j->host, j->port, a->key, a->keylen, a->conf.agent.name,
			    &job_ops, j, err, sizeof(err));
	if (!j->link) {
		job_fail(j, err);
		util_buf_printf(msg, "%s\n", j->msg);
		return -1;
	}
	util_buf_printf(msg, "Restore of %s requested from %s\n", r->repset, r->from);
	return 0;
}

int restore_result(struct agent *a, const char *repset, struct util_buf *msg)
{
	struct restore_job *j = job_find(a, repset);

	if (!j) {
		util_buf_printf(msg, "no restore of %s was asked for\n", repset);
		return -1;
	}
	switch (j->state) {
	case JOB_ASKING:
	case JOB_RUNNING:
		return 0;
	case JOB_DONE:
		util_buf_printf(msg, "%s\n", j->msg);
		return 1;
	default:
		util_buf_printf(msg, "%s\n", j->msg);
		return -1;
	}
}

bool restore_expected(struct agent *a, const char *peer, const char *repset)
{
	struct restore_job *j = job_find(a, repset);

	return j && (j->state == JOB_ASKING || j->state == JOB_RUNNING) && !j->elsewhere &&
	       (!j->peer[0] || !strcmp(j->peer, peer));
}

void restore_session_end(struct agent *a, const char *peer, const char *repset,
			 bool complete, const char *why)
{
	struct restore_job *j = job_find(a, repset);

	if (!j || j->state != JOB_RUNNING || strcmp(j->peer, peer))
		return;
	if (!complete) {
		job_fail(j, why);
		return;
	}
	j->state = JOB_DONE;
	snprintf(j->msg, sizeof(j->msg), "restore of %s from %s complete", j->repset, j->host);
	dtlog(DTLOG_INFO, 98, "Restore complete: %s from %s", j->repset, j->host);
	source_restored(a->source, j->repset, j->host);
}

void restore_free_all(struct agent *a)
{
	while (a->restores) {
		struct restore_job *j = a->restores;

		a->restores = j->next;
		if (j->link)
			link_close(j->link, "agent stopping");
		free(j->repset);
		free(j);
	}
}
