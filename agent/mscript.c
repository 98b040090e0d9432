#include "config.h"

/* mscript — scripts on mirror events; see mscript.h. */

#include "mscript.h"
#include "dtlog.h"
#include "script.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGS_MAX 64

static const char *const names[MSCRIPT_EVENTS] = {
	"MIRRORSTART", "MIRRORSTOP", "MIRRORCOMPLETE",
};
static const char *const keys[MSCRIPT_EVENTS] = {
	"mirrorstart", "mirrorstop", "mirrorcomplete",
};

/* One run; outlives the settings if the connection goes first. */
struct mscript_run {
	struct mscript_run **slot; /* the owner's pointer to us, or NULL */
	uint32_t con_id;
	enum mscript_event e;
	char *path;
};

int mscript_event_parse(const char *word)
{
	for (int i = 0; i < MSCRIPT_EVENTS; i++)
		if (word && util_streq_ci(word, names[i]))
			return i;
	return -1;
}

const char *mscript_event_name(enum mscript_event e)
{
	return names[e];
}

int mscript_set(struct mscripts *m, enum mscript_event e, const char *path,
		const char *args, char *err, size_t errlen)
{
	if (script_check(path, err, errlen) < 0)
		return -1;
	if (args && strlen(args) > 4096) {
		snprintf(err, errlen, "ARGS longer than 4096 bytes");
		return -1;
	}
	free(m->path[e]);
	free(m->args[e]);
	m->path[e] = util_xstrdup(path);
	m->args[e] = args && *args ? util_xstrdup(args) : NULL;
	return 0;
}

int mscript_clear(struct mscripts *m, enum mscript_event e)
{
	if (!m->path[e])
		return -1;
	free(m->path[e]);
	free(m->args[e]);
	m->path[e] = m->args[e] = NULL;
	return 0;
}

static void on_line(void *ctx, bool is_stderr, const char *line)
{
	struct mscript_run *r = ctx;

	dtlog(DTLOG_INFO, 0, "Script %s (connection %u) %s: %s", names[r->e], r->con_id,
	      is_stderr ? "error output" : "output", line);
}

static void on_done(void *ctx, const struct script_result *res)
{
	struct mscript_run *r = ctx;
	char how[256];

	script_result_describe(res, how, sizeof(how));
	dtlog(res->how == SCRIPT_EXITED && res->status == 0 ? DTLOG_INFO : DTLOG_WARNING, 0,
	      "Script %s (connection %u) %s %s", names[r->e], r->con_id, r->path, how);
	if (r->slot)
		*r->slot = NULL;
	free(r->path);
	free(r);
}

/* "NAME=value" into env[*n] (the caller frees). */
static void env_add(char **env, size_t *n, const char *name, const char *value)
{
	env[(*n)++] = util_xasprintf("%s=%s", name, value ? value : "");
}

void mscript_fire(struct mscripts *m, struct evloop *loop, enum mscript_event e,
		  const struct mscript_info *info)
{
	char *args = NULL, *save = NULL, *tok;
	const char *argv[ARGS_MAX];
	char *env[12], num[3][32], err[512];
	size_t nargs = 0, nenv = 0, i;
	struct mscript_run *r;

	if (!m->path[e])
		return;
	if (m->run[e]) {
		dtlog(DTLOG_WARNING, 0, "Script %s (connection %u) %s still runs from the last time; not started again",
		      names[e], info->con_id, m->path[e]);
		return;
	}
	/* Split at blanks, never through a shell. */
	if (m->args[e]) {
		args = util_xstrdup(m->args[e]);
		for (tok = strtok_r(args, " \t", &save); tok && nargs < ARGS_MAX;
		     tok = strtok_r(NULL, " \t", &save))
			argv[nargs++] = tok;
	}
	snprintf(num[0], sizeof(num[0]), "%" PRIu32, info->con_id);
	snprintf(num[1], sizeof(num[1]), "%" PRIu64, info->files);
	snprintf(num[2], sizeof(num[2]), "%" PRIu64, info->bytes);
	env_add(env, &nenv, "DITTO_EVENT", names[e]);
	env_add(env, &nenv, "DITTO_CON_ID", num[0]);
	env_add(env, &nenv, "DITTO_SOURCE", info->source);
	env_add(env, &nenv, "DITTO_REPSET", info->repset);
	env_add(env, &nenv, "DITTO_TARGET", info->target);
	env_add(env, &nenv, "DITTO_TARGET_PATH", info->target_path);
	env_add(env, &nenv, "DITTO_MIRROR_TYPE", info->type);
	if (e != MSCRIPT_START) {
		env_add(env, &nenv, "DITTO_MIRROR_FILES", num[1]);
		env_add(env, &nenv, "DITTO_MIRROR_BYTES", num[2]);
	}
	if (e == MSCRIPT_STOP)
		env_add(env, &nenv, "DITTO_REASON", info->reason ? info->reason : "stopped");
	r = util_xcalloc(1, sizeof(*r));
	r->con_id = info->con_id;
	r->e = e;
	r->path = util_xstrdup(m->path[e]);
	if (!script_start(loop, m->path[e], argv, nargs, (const char *const *)env, nenv, 0,
			  on_line, on_done, r, err, sizeof(err))) {
		dtlog(DTLOG_ERROR, 0, "Script %s (connection %u) not run: %s", names[e], info->con_id, err);
		free(r->path);
		free(r);
	} else {
		r->slot = &m->run[e];
		m->run[e] = r;
		dtlog(DTLOG_INFO, 0, "Script %s (connection %u) started: %s%s%s", names[e], info->con_id,
		      m->path[e], m->args[e] ? " " : "", m->args[e] ? m->args[e] : "");
	}
	for (i = 0; i < nenv; i++)
		free(env[i]);
	free(args);
}

void mscript_save(const struct mscripts *m, config_setting_t *group)
{
	char key[64];

	for (int e = 0; e < MSCRIPT_EVENTS; e++) {
		if (!m->path[e])
			continue;
		config_setting_set_string(config_setting_add(group, keys[e], CONFIG_TYPE_STRING), m->path[e]);
		snprintf(key, sizeof(key), "%s_args", keys[e]);
		config_setting_set_string(config_setting_add(group, key, CONFIG_TYPE_STRING),
					  m->args[e] ? m->args[e] : "");
	}
}

void mscript_load(struct mscripts *m, const config_setting_t *group)
{
	const char *p, *a;
	char key[64];

	for (int e = 0; e < MSCRIPT_EVENTS; e++) {
		if (!config_setting_lookup_string(group, keys[e], &p) || p[0] != '/')
			continue;
		snprintf(key, sizeof(key), "%s_args", keys[e]);
		if (!config_setting_lookup_string(group, key, &a))
			a = "";
		free(m->path[e]);
		free(m->args[e]);
		m->path[e] = util_xstrdup(p);
		m->args[e] = *a ? util_xstrdup(a) : NULL;
	}
}

void mscript_status(const struct mscripts *m, struct util_buf *out)
{
	char label[32];

	for (int e = 0; e < MSCRIPT_EVENTS; e++) {
		if (!m->path[e])
			continue;
		snprintf(label, sizeof(label), "Script %s:", names[e]);
		util_buf_printf(out, "%-21s %s%s%s%s\n", label, m->path[e],
				m->args[e] ? " " : "", m->args[e] ? m->args[e] : "",
				m->run[e] ? " (running)" : "");
	}
}

void mscript_free(struct mscripts *m)
{
	for (int e = 0; e < MSCRIPT_EVENTS; e++) {
		free(m->path[e]);
		free(m->args[e]);
		if (m->run[e])
			m->run[e]->slot = NULL; /* it finishes on its own */
		m->path[e] = m->args[e] = NULL;
		m->run[e] = NULL;
	}
}
