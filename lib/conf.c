#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>

#include "conf.h"
#include "netaddr.h"
#include "util.h"

#ifndef DITTO_SYSCONFDIR
#define DITTO_SYSCONFDIR "/etc"
#endif
#ifndef DITTO_LOCALSTATEDIR
#define DITTO_LOCALSTATEDIR "/var"
#endif
#ifndef DITTO_RUNSTATEDIR
#define DITTO_RUNSTATEDIR "/run"
#endif
#ifndef DITTO_PLUGINDIR
#define DITTO_PLUGINDIR "/usr/local/lib/ditto"
#endif

enum ktype { KT_STRING, KT_BOOL, KT_INT, KT_SIZE, KT_HOSTPORT, KT_ENUM };

/* Private key flags; CONF_RUNTIME (0x1) is public. */
#define KF_NONEMPTY  0x2u  /* "" is not a usable value */
#define KF_POW2      0x4u  /* sizes: power of two only */
#define KF_UNLIMITED 0x8u  /* sizes: the word "unlimited" = CONF_UNLIMITED */

struct keydef {
	struct conf_keyinfo info;  /* what HELP and the man page show */
	enum ktype type;
	unsigned flags;
	size_t off;                /* offsetof the field in struct conf */
};

/* Ranges and enum words live only in info.range, which the validator parses,
 * so the limits shown to users are the limits enforced. */
#define RT(fl) (((fl) & CONF_RUNTIME) != 0)
#define KEY(nm, kt, tname, def, range, fl, field, help) \
	{ { nm, tname, def, help, RT(fl), range }, kt, fl, \
	  offsetof(struct conf, field) }
#define K_STR(nm, def, fl, field, help) \
	KEY(nm, KT_STRING, "string", def, NULL, fl, field, help)
#define K_BOOL(nm, def, fl, field, help) \
	KEY(nm, KT_BOOL, "boolean", def, NULL, fl, field, help)
#define K_INT(nm, def, range, fl, field, help) \
	KEY(nm, KT_INT, "integer", def, range, fl, field, help)
#define K_SIZE(nm, def, range, fl, field, help) \
	KEY(nm, KT_SIZE, "size", def, range, fl, field, help)
#define K_HOSTPORT(nm, def, fl, field, help) \
	KEY(nm, KT_HOSTPORT, "host:port", def, NULL, fl, field, help)
#define K_ENUM(nm, def, words, fl, field, help) \
	KEY(nm, KT_ENUM, "enum", def, words, fl, field, help)

static const struct keydef keys[] = {
	K_STR("agent.name", "", 0, agent.name,
	      "Name this agent announces to peers; empty means the host name"),
	K_STR("agent.state_dir", DITTO_LOCALSTATEDIR "/lib/ditto", KF_NONEMPTY,
	      agent.state_dir,
	      "Directory of repsets, connections, monitors, target progress and hash maps"),
	K_STR("agent.log_dir", DITTO_LOCALSTATEDIR "/log/ditto", KF_NONEMPTY,
	      agent.log_dir, "Directory of the dtlog*.dtl files and verification logs"),
	K_STR("agent.control_socket", DITTO_RUNSTATEDIR "/ditto/ditto.sock",
	      KF_NONEMPTY, agent.control_socket,
	      "Local control socket used by dtcl, dtstat and dtsetup"),
	K_STR("agent.pid_file", "", 0, agent.pid_file,
	      "PID file; empty means <state_dir>/dittod.pid"),
	K_HOSTPORT("agent.listen", "0.0.0.0:1500", 0, agent.listen,
		   "TCP address and port for agent links and remote control"),
	K_INT("agent.heartbeat_port", "1500", "1..65535", 0, agent.heartbeat_port,
	      "UDP port for failover heartbeats"),
	K_STR("agent.key_file", "", 0, agent.key_file,
	      "Pre-shared key for agent links; empty means <state_dir>/peer.key"),
	K_STR("agent.plugin_dir", DITTO_PLUGINDIR, KF_NONEMPTY, agent.plugin_dir,
	      "Directory the capture and array plugins are loaded from"),
	K_STR("agent.admin_group", "dtadmin", KF_NONEMPTY, agent.admin_group,
	      "Group whose members may run every command"),
	K_STR("agent.monitor_group", "dtmon", KF_NONEMPTY, agent.monitor_group,
	      "Group whose members may read status, statistics and logs"),
	K_STR("agent.script_dir", DITTO_SYSCONFDIR "/ditto/scripts", KF_NONEMPTY | CONF_RUNTIME, agent.script_dir,
	      "Directory a post-failback script a target asks this agent to run must be in"),

	K_SIZE("log.max_length", "1M", "4K..", CONF_RUNTIME, log.max_length,
	       "Size at which the current dtlog file is rotated"),
	K_INT("log.max_files", "5", "1..999", CONF_RUNTIME, log.max_files,
	      "Number of dtlog files kept"),
	K_BOOL("log.syslog", "true", CONF_RUNTIME, log.syslog,
	       "Also send service events (4000 series) to syslog"),

	K_SIZE("queue.memory", "128M", "32M..", 0, queue.memory,
	       "Memory for queued ops before they spill to xlog files"),
	K_STR("queue.dir", "", 0, queue.dir,
	      "Directory of the xlog files; empty means <state_dir>/queue"),
	K_SIZE("queue.disk_max", "unlimited", NULL, KF_UNLIMITED, queue.disk_max,
	       "Disk space for xlog files; 0 means no disk queue"),
	K_SIZE("queue.min_free", "50M", NULL, CONF_RUNTIME, queue.min_free,
	       "Free space kept on the queue file system"),
	K_INT("queue.alert_percent", "50", "0..100", CONF_RUNTIME,
	      queue.alert_percent, "Disk queue usage in percent that raises an alert; 0 means none"),
	K_SIZE("queue.xlog_size", "5M", "64K..", 0, queue.xlog_size,
	       "Largest xlog file; an op is never split"),
	K_ENUM("queue.auto_remirror", "different", "none|full|different|checksum", CONF_RUNTIME,
	       queue.auto_remirror,
	       "Mirror run after an exhausted queue was flushed and the connection reconnected; none leaves it Mirror Required"),

	K_INT("target.retry_limit", "-1", "-1..", CONF_RUNTIME, target.retry_limit,
	      "Times a failed apply is retried; -1 means forever"),

	K_BOOL("mirror.checksum_all", "false", CONF_RUNTIME, mirror.checksum_all,
	       "Checksum mirrors compare the block hashes of every file, not only of those whose size or time differ"),
	K_STR("verify.log_name", "DTVerify.log", KF_NONEMPTY | CONF_RUNTIME, verify.log_name,
	      "Verification log file name; the replication set name and a space go first"),
	K_SIZE("verify.log_max_length", "1M", "4K..", CONF_RUNTIME, verify.log_max_length,
	       "Size past which a verification log gets no more entries"),
	K_BOOL("verify.log_append", "true", CONF_RUNTIME, verify.log_append,
	       "Append each verification to the log; false starts it afresh"),

	K_ENUM("capture.plugin", "fanotify", "fanotify|inotify|loopshim|blockdrv",
	       0, capture.plugin, "Capture plugin used for replication sets"),
	K_SIZE("capture.block_size", "64K", "4K..16M", KF_POW2, capture.block_size,
	       "Block size of the change hash maps; a power of two"),
};

_Static_assert(sizeof(enum conf_capture) == sizeof(int),
	       "enum keys are stored through an int");

union kval {
	char *s;
	bool b;
	int i;
	uint64_t u;
	struct conf_hostport hp;
};

static const struct keydef *find_key(const char *name)
{
	size_t i;

	if (!name)
		return NULL;
	for (i = 0; i < UTIL_ARRAY_SIZE(keys); i++)
		if (util_streq_ci(keys[i].info.name, name))
			return &keys[i];
	return NULL;
}

static bool is_group(const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < UTIL_ARRAY_SIZE(keys); i++)
		if (strncasecmp(keys[i].info.name, name, n) == 0 &&
		    keys[i].info.name[n] == '.')
			return true;
	return false;
}

static void *field(struct conf *c, const struct keydef *kd)
{
	return (char *)c + kd->off;
}

static const void *cfield(const struct conf *c, const struct keydef *kd)
{
	return (const char *)c + kd->off;
}

/* Splits "lo..hi" (either side may be empty) into two buffers. */
static void range_split(const char *range, char *lo, size_t lolen, char *hi,
			size_t hilen)
{
	const char *dots = range ? strstr(range, "..") : NULL;

	lo[0] = hi[0] = '\0';
	if (!dots)
		return;
	util_strlcpy(lo, range, lolen < (size_t)(dots - range) + 1 ?
		     lolen : (size_t)(dots - range) + 1);
	util_strlcpy(hi, dots + 2, hilen);
}

static void fmt_size(uint64_t v, char *buf, size_t len)
{
	static const struct { char suffix; unsigned shift; } units[] = {
		{ 'T', 40 }, { 'G', 30 }, { 'M', 20 }, { 'K', 10 },
	};
	size_t i;

	if (v != 0)
		for (i = 0; i < UTIL_ARRAY_SIZE(units); i++)
			if ((v & ((UINT64_C(1) << units[i].shift) - 1)) == 0) {
				snprintf(buf, len, "%" PRIu64 "%c",
					 v >> units[i].shift, units[i].suffix);
				return;
			}
	snprintf(buf, len, "%" PRIu64, v);
}

/* Copies word number idx of an enum key into buf; false past the end. */
static bool enum_word(const struct keydef *kd, int idx, char *buf, size_t len)
{
	const char *p = kd->info.range;
	int n = 0;

	while (p && *p) {
		size_t wl = strcspn(p, "|");

		if (n++ == idx) {
			util_strlcpy(buf, p, wl + 1 < len ? wl + 1 : len);
			return true;
		}
		p += wl;
		if (*p == '|')
			p++;
	}
	return false;
}

static int parse_string(const struct keydef *kd, const char *text,
			union kval *v, char *err, size_t errlen)
{
	const unsigned char *p;

	if ((kd->flags & KF_NONEMPTY) && !*text) {
		util_seterr(err, errlen, "%s: must not be empty", kd->info.name);
		return -1;
	}
	/* Values end up in paths, log lines and the settings file. */
	for (p = (const unsigned char *)text; *p; p++)
		if (*p < 0x20 || *p == 0x7f) {
			util_seterr(err, errlen, "%s: control characters are not allowed",
			       kd->info.name);
			return -1;
		}
	v->s = util_xstrdup(text);
	return 0;
}

static int parse_bool(const struct keydef *kd, const char *text,
		      union kval *v, char *err, size_t errlen)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(yes); i++) {
		if (util_streq_ci(text, yes[i])) {
			v->b = true;
			return 0;
		}
		if (util_streq_ci(text, no[i])) {
			v->b = false;
			return 0;
		}
	}
	util_seterr(err, errlen, "%s: expected true or false, got \"%s\"",
	       kd->info.name, text);
	return -1;
}

static int parse_int(const struct keydef *kd, const char *text, union kval *v,
		     char *err, size_t errlen)
{
	char los[32], his[32];
	int64_t x, lo = INT_MIN, hi = INT_MAX;

	if (util_parse_i64(text, &x) < 0) {
		util_seterr(err, errlen, "%s: expected an integer, got \"%s\"",
		       kd->info.name, text);
		return -1;
	}
	range_split(kd->info.range, los, sizeof(los), his, sizeof(his));
	if (*los && util_parse_i64(los, &lo) < 0)
		abort();  /* the key table is wrong */
	if (*his && util_parse_i64(his, &hi) < 0)
		abort();
	if (x < lo || x > hi) {
		if (*los && *his)
			util_seterr(err, errlen, "%s: %" PRId64 " is out of range %s",
			       kd->info.name, x, kd->info.range);
		else if (x < lo)
			util_seterr(err, errlen, "%s: %" PRId64 " is below the minimum %s",
			       kd->info.name, x, los);
		else
			util_seterr(err, errlen, "%s: %" PRId64 " is too large",
			       kd->info.name, x);
		return -1;
	}
	v->i = (int)x;
	return 0;
}

static int parse_size(const struct keydef *kd, const char *text,
		      union kval *v, char *err, size_t errlen)
{
	char los[32], his[32], shown[32];
	uint64_t x, lo = 0, hi = UINT64_MAX;

	if ((kd->flags & KF_UNLIMITED) && util_streq_ci(text, "unlimited")) {
		v->u = CONF_UNLIMITED;
		return 0;
	}
	if (*text == '-') {
		util_seterr(err, errlen, "%s: size must not be negative", kd->info.name);
		return -1;
	}
	if (util_parse_size(text, &x) < 0) {
		util_seterr(err, errlen,
		       "%s: invalid size \"%s\" (a number with an optional K, M, G or T suffix%s)",
		       kd->info.name, text,
		       (kd->flags & KF_UNLIMITED) ? ", or \"unlimited\"" : "");
		return -1;
	}
	range_split(kd->info.range, los, sizeof(los), his, sizeof(his));
	if (*los && util_parse_size(los, &lo) < 0)
		abort();  /* the key table is wrong */
	if (*his && util_parse_size(his, &hi) < 0)
		abort();
	fmt_size(x, shown, sizeof(shown));
	if (x < lo) {
		util_seterr(err, errlen, "%s: %s is below the minimum %s",
		       kd->info.name, shown, los);
		return -1;
	}
	if (x > hi) {
		util_seterr(err, errlen, "%s: %s is above the maximum %s",
		       kd->info.name, shown, his);
		return -1;
	}
	if ((kd->flags & KF_POW2) && (x & (x - 1)) != 0) {
		util_seterr(err, errlen, "%s: %s is not a power of two",
		       kd->info.name, shown);
		return -1;
	}
	v->u = x;
	return 0;
}

static int parse_hostport(const struct keydef *kd, const char *text,
			  union kval *v, char *err, size_t errlen)
{
	struct conf_hostport hp;
	const char *p;
	uint16_t port = 0;

	/* Parts left out come from the key's own default. */
	memset(&hp, 0, sizeof(hp));
	if (util_parse_hostport(kd->info.def, hp.host, sizeof(hp.host),
				&port) < 0)
		abort();
	hp.port = port;
	for (p = text; *p; p++)
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
			break;
	if (!*text || *p ||
	    util_parse_hostport(text, hp.host, sizeof(hp.host), &hp.port) < 0 ||
	    !hp.host[0]) {
		util_seterr(err, errlen, "%s: expected host:port, got \"%s\"",
		       kd->info.name, text);
		return -1;
	}
	hp.text = strchr(hp.host, ':') ?
		util_xasprintf("[%s]:%u", hp.host, (unsigned)hp.port) :
		util_xasprintf("%s:%u", hp.host, (unsigned)hp.port);
	v->hp = hp;
	return 0;
}

static int parse_enum(const struct keydef *kd, const char *text,
		      union kval *v, char *err, size_t errlen)
{
	char word[64];
	int i;

	for (i = 0; enum_word(kd, i, word, sizeof(word)); i++)
		if (util_streq_ci(word, text)) {
			v->i = i;
			return 0;
		}
	util_seterr(err, errlen, "%s: unknown value \"%s\" (expected one of %s)",
	       kd->info.name, text, kd->info.range);
	return -1;
}

/* The one validator behind defaults, files and SET. */
static int parse_value(const struct keydef *kd, const char *text,
		       union kval *v, char *err, size_t errlen)
{
	switch (kd->type) {
	case KT_STRING:   return parse_string(kd, text, v, err, errlen);
	case KT_BOOL:     return parse_bool(kd, text, v, err, errlen);
	case KT_INT:      return parse_int(kd, text, v, err, errlen);
	case KT_SIZE:     return parse_size(kd, text, v, err, errlen);
	case KT_HOSTPORT: return parse_hostport(kd, text, v, err, errlen);
	case KT_ENUM:     return parse_enum(kd, text, v, err, errlen);
	}
	abort();
}

/* Moves v into c, freeing what it replaces. */
static void store(struct conf *c, const struct keydef *kd, union kval *v)
{
	void *p = field(c, kd);

	switch (kd->type) {
	case KT_STRING:
		free(*(char **)p);
		*(char **)p = v->s;
		break;
	case KT_BOOL:
		*(bool *)p = v->b;
		break;
	case KT_INT:
	case KT_ENUM:
		*(int *)p = v->i;
		break;
	case KT_SIZE:
		*(uint64_t *)p = v->u;
		break;
	case KT_HOSTPORT:
		free(((struct conf_hostport *)p)->text);
		*(struct conf_hostport *)p = v->hp;
		break;
	}
}

static void format_value(const struct conf *c, const struct keydef *kd,
			 struct util_buf *out)
{
	const void *p = cfield(c, kd);
	char buf[64];

	switch (kd->type) {
	case KT_STRING: {
		const char *s = *(char *const *)p;

		util_buf_puts(out, s ? s : "");
		break;
	}
	case KT_BOOL:
		util_buf_puts(out, *(const bool *)p ? "true" : "false");
		break;
	case KT_INT:
		util_buf_printf(out, "%d", *(const int *)p);
		break;
	case KT_ENUM:
		if (!enum_word(kd, *(const int *)p, buf, sizeof(buf)))
			buf[0] = '\0';
		util_buf_puts(out, buf);
		break;
	case KT_SIZE: {
		uint64_t u = *(const uint64_t *)p;

		if ((kd->flags & KF_UNLIMITED) && u == CONF_UNLIMITED)
			util_buf_puts(out, "unlimited");
		else {
			fmt_size(u, buf, sizeof(buf));
			util_buf_puts(out, buf);
		}
		break;
	}
	case KT_HOSTPORT: {
		const char *s = ((const struct conf_hostport *)p)->text;

		util_buf_puts(out, s ? s : "");
		break;
	}
	}
}

static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir);

	return util_xasprintf("%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/",
			      name);
}

static char *derive(const char *set, const char *dir, const char *name)
{
	return set && *set ? util_xstrdup(set) : path_join(dir ? dir : "", name);
}

/* Applies the rules that depend on other keys or the host; run after every
 * change so the accessors never see stale paths. */
static void finalize(struct conf *c)
{
	if (!c->agent.name || !*c->agent.name) {
		char host[HOST_NAME_MAX + 1];

		if (gethostname(host, sizeof(host)) < 0 || !host[0])
			util_strlcpy(host, "localhost", sizeof(host));
		host[sizeof(host) - 1] = '\0';
		free(c->agent.name);
		c->agent.name = util_xstrdup(host);
	}
	free(c->priv_pid_file);
	free(c->priv_key_file);
	free(c->priv_queue_dir);
	free(c->priv_settings_file);
	c->priv_pid_file = derive(c->agent.pid_file, c->agent.state_dir,
				  "dittod.pid");
	c->priv_key_file = derive(c->agent.key_file, c->agent.state_dir,
				  "peer.key");
	c->priv_queue_dir = derive(c->queue.dir, c->agent.state_dir, "queue");
	c->priv_settings_file = derive(NULL, c->agent.state_dir,
				       CONF_SETTINGS_NAME);
}

void conf_init_defaults(struct conf *c)
{
	char err[256];
	union kval v;
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < UTIL_ARRAY_SIZE(keys); i++) {
		if (parse_value(&keys[i], keys[i].info.def, &v, err,
				sizeof(err)) < 0) {
			fprintf(stderr, "conf: bad built-in default: %s\n", err);
			abort();
		}
		store(c, &keys[i], &v);
	}
	finalize(c);
}

void conf_free(struct conf *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < UTIL_ARRAY_SIZE(keys); i++) {
		void *p = field(c, &keys[i]);

		if (keys[i].type == KT_STRING)
			free(*(char **)p);
		else if (keys[i].type == KT_HOSTPORT)
			free(((struct conf_hostport *)p)->text);
	}
	free(c->priv_pid_file);
	free(c->priv_key_file);
	free(c->priv_queue_dir);
	free(c->priv_settings_file);
	memset(c, 0, sizeof(*c));
}

int conf_copy(struct conf *dst, const struct conf *src)
{
	size_t i;

	*dst = *src;
	for (i = 0; i < UTIL_ARRAY_SIZE(keys); i++) {
		void *p = field(dst, &keys[i]);
		char **s = NULL;

		if (keys[i].type == KT_STRING)
			s = (char **)p;
		else if (keys[i].type == KT_HOSTPORT)
			s = &((struct conf_hostport *)p)->text;
		if (s && *s)
			*s = util_xstrdup(*s);
	}
	dst->priv_pid_file = dst->priv_key_file = NULL;
	dst->priv_queue_dir = dst->priv_settings_file = NULL;
	finalize(dst);
	return 0;
}

static const char *lc_type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:  return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:  return "an integer";
	case CONFIG_TYPE_FLOAT:  return "a float";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL:   return "a boolean";
	case CONFIG_TYPE_ARRAY:  return "an array";
	case CONFIG_TYPE_LIST:   return "a list";
	}
	return "an unknown type";
}

static bool name_char(char ch)
{
	return isalnum((unsigned char)ch) || ch == '_' || ch == '-' || ch == '*';
}

/* Finds "name = <integer>" on line `line` of file and parses the literal the
 * way libconfig does (decimal, or hex after 0x). */
static bool raw_int(const char *file, int line, const char *name,
		    long long *out)
{
	FILE *fp = fopen(file, "re");
	char *buf = NULL, *p, *end;
	size_t cap = 0, nlen = strlen(name);
	bool found = false;
	int n = 0;

	if (!fp)
		return false;
	while (getline(&buf, &cap, fp) >= 0)
		if (++n == line)
			break;
	for (p = buf; n == line && p && (p = strstr(p, name)); p += nlen) {
		char *q = p + nlen;
		bool neg = false;
		int base = 10;

		if ((p > buf && name_char(p[-1])) || name_char(*q))
			continue;
		q += strspn(q, " \t");
		if (*q != '=' && *q != ':')
			continue;
		q++;
		q += strspn(q, " \t");
		if (*q == '-' || *q == '+')
			neg = *q++ == '-';
		if (q[0] == '0' && (q[1] == 'x' || q[1] == 'X')) {
			base = 16;
			q += 2;
		}
		if (!isxdigit((unsigned char)*q))
			continue;
		errno = 0;
		*out = strtoll(q, &end, base);
		if (errno || (base == 10 && isxdigit((unsigned char)*end)))
			continue;
		if (neg)
			*out = -*out;
		found = true;
		break;
	}
	free(buf);
	fclose(fp);
	return found;
}

/* Turns a libconfig value into the text SET would take, refusing types the
 * key does not accept (a quoted "5" for an integer, 5 for a path, ...). */
static int setting_text(const struct keydef *kd, const config_setting_t *s,
			const char *file, char *buf, size_t len,
			const char **text, char *msg, size_t msglen)
{
	int t = config_setting_type(s);
	bool is_int = t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
	const char *want = NULL;
	long long raw;

	/* libconfig 1.5 wraps literals beyond 32 bits that lack the L suffix
	 * (disk_max = 4294967296 reads as 0, "no disk queue"), so such a
	 * number is taken from the file text instead. */
	if (t == CONFIG_TYPE_INT &&
	    raw_int(file, (int)config_setting_source_line(s),
		    config_setting_name(s), &raw) &&
	    raw != config_setting_get_int64(s)) {
		snprintf(buf, len, "%lld", raw);
		*text = buf;
		if (kd->type == KT_INT || kd->type == KT_SIZE)
			return 0;
	}

	switch (kd->type) {
	case KT_STRING:
	case KT_HOSTPORT:
	case KT_ENUM:
		if (t == CONFIG_TYPE_STRING) {
			*text = config_setting_get_string(s);
			return 0;
		}
		want = "a string";
		break;
	case KT_BOOL:
		if (t == CONFIG_TYPE_BOOL) {
			*text = config_setting_get_bool(s) ? "true" : "false";
			return 0;
		}
		want = "true or false";
		break;
	case KT_INT:
		if (is_int) {
			snprintf(buf, len, "%lld", config_setting_get_int64(s));
			*text = buf;
			return 0;
		}
		want = "an integer";
		break;
	case KT_SIZE:
		if (is_int) {
			snprintf(buf, len, "%lld", config_setting_get_int64(s));
			*text = buf;
			return 0;
		}
		if (t == CONFIG_TYPE_STRING) {
			*text = config_setting_get_string(s);
			return 0;
		}
		want = "a size (an integer or a string like \"128M\")";
		break;
	}
	util_seterr(msg, msglen, "%s: expected %s, got %s", kd->info.name, want,
	       lc_type_name(t));
	return -1;
}

static const char *setting_file(const config_setting_t *s, const char *path)
{
	const char *f = config_setting_source_file(s);

	return f ? f : path;
}

/* One optional integer of a monitors entry within [lo, hi]. */
static int mon_int(const config_setting_t *g, const char *name, long long lo, long long hi,
		   const char *path, char *err, size_t errlen)
{
	const config_setting_t *v = config_setting_get_member(g, name);
	long long x;

	if (!v)
		return 0;
	x = config_setting_get_int64(v);
	if ((config_setting_type(v) != CONFIG_TYPE_INT && config_setting_type(v) != CONFIG_TYPE_INT64) ||
	    x < lo || x > hi) {
		util_seterr(err, errlen, "%s:%d: monitors: %s must be an integer from %lld to %lld",
			    setting_file(v, path), (int)config_setting_source_line(v), name, lo, hi);
		return -1;
	}
	return 0;
}

/* The failover monitors a target keeps (see agent/monitor.h): checked here
 * so that a bad entry stops the agent with its line, like any setting. */
static int check_monitors(const config_setting_t *list, const char *path, char *err, size_t errlen)
{
	static const char *const mkeys[] = {
		"source", "addresses", "interval", "missed", "manual", "items",
		"prefailover", "prefailover_delay", "prefailover_timeout",
		"postfailover", "postfailover_delay", "postfailover_timeout",
		"prefailback", "prefailback_delay", "prefailback_timeout",
		"postfailback",
	};
	static const char *const akeys[] = { "address", "adapter", "monitored", "interval", "missed" };
	int line = (int)config_setting_source_line(list);

	if (config_setting_type(list) != CONFIG_TYPE_LIST) {
		util_seterr(err, errlen, "%s:%d: 'monitors' must be a list ( { ... }, ... )", path, line);
		return -1;
	}
	for (int i = 0; i < config_setting_length(list); i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i), *al;
		const char *src = NULL, *items = NULL;

		line = (int)config_setting_source_line(g);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			util_seterr(err, errlen, "%s:%d: monitors: each entry must be a group { ... }", path, line);
			return -1;
		}
		for (int k = 0; k < config_setting_length(g); k++) {
			const config_setting_t *m = config_setting_get_elem(g, (unsigned)k);
			size_t w;

			for (w = 0; w < UTIL_ARRAY_SIZE(mkeys) && strcmp(config_setting_name(m), mkeys[w]); w++)
				;
			if (w == UTIL_ARRAY_SIZE(mkeys)) {
				util_seterr(err, errlen, "%s:%d: monitors: unknown key '%s'", path,
					    (int)config_setting_source_line(m), config_setting_name(m));
				return -1;
			}
			if (strstr(config_setting_name(m), "failover") || strstr(config_setting_name(m), "failback")) {
				const char *sp = config_setting_get_string(m);

				if (!strchr(config_setting_name(m), '_') && (!sp || sp[0] != '/')) {
					util_seterr(err, errlen, "%s:%d: monitors: %s must be an absolute path", path,
						    (int)config_setting_source_line(m), config_setting_name(m));
					return -1;
				}
			}
		}
		if (!config_setting_lookup_string(g, "source", &src) || !*src) {
			util_seterr(err, errlen, "%s:%d: monitors: source = \"agent name\" is needed", path, line);
			return -1;
		}
		if (config_setting_lookup_string(g, "items", &items) && strcmp(items, "monitored") && strcmp(items, "all")) {
			util_seterr(err, errlen, "%s:%d: monitors: items must be \"monitored\" or \"all\"", path, line);
			return -1;
		}
		if (mon_int(g, "interval", 50, 3600000, path, err, errlen) < 0 ||
		    mon_int(g, "missed", 1, 1000, path, err, errlen) < 0 ||
		    mon_int(g, "prefailover_timeout", 0, 86400, path, err, errlen) < 0 ||
		    mon_int(g, "postfailover_timeout", 0, 86400, path, err, errlen) < 0 ||
		    mon_int(g, "prefailback_timeout", 0, 86400, path, err, errlen) < 0)
			return -1;
		al = config_setting_get_member(g, "addresses");
		if (!al || config_setting_type(al) != CONFIG_TYPE_LIST) {
			util_seterr(err, errlen, "%s:%d: monitors: addresses = ( { address = \"ip/prefix\"; adapter = \"dev\"; } ) is needed",
				    path, line);
			return -1;
		}
		for (int j = 0; j < config_setting_length(al); j++) {
			const config_setting_t *ag = config_setting_get_elem(al, (unsigned)j);
			const char *text = NULL, *adapter = NULL;
			struct netaddr na;
			char msg[256];

			line = (int)config_setting_source_line(ag);
			if (config_setting_type(ag) != CONFIG_TYPE_GROUP) {
				util_seterr(err, errlen, "%s:%d: monitors: each address must be a group { ... }", path, line);
				return -1;
			}
			for (int k = 0; k < config_setting_length(ag); k++) {
				const config_setting_t *m = config_setting_get_elem(ag, (unsigned)k);
				size_t w;

				for (w = 0; w < UTIL_ARRAY_SIZE(akeys) && strcmp(config_setting_name(m), akeys[w]); w++)
					;
				if (w == UTIL_ARRAY_SIZE(akeys)) {
					util_seterr(err, errlen, "%s:%d: monitors: unknown address key '%s'", path,
						    (int)config_setting_source_line(m), config_setting_name(m));
					return -1;
				}
			}
			if (!config_setting_lookup_string(ag, "address", &text) ||
			    netaddr_parse(text, &na, msg, sizeof(msg)) < 0) {
				util_seterr(err, errlen, "%s:%d: monitors: %s", path, line,
					    text ? msg : "address = \"ip/prefix\" is needed");
				return -1;
			}
			if (!config_setting_lookup_string(ag, "adapter", &adapter) || !*adapter ||
			    strlen(adapter) >= 16) {
				util_seterr(err, errlen, "%s:%d: monitors: adapter = \"dev\" (the interface that takes %s over) is needed",
					    path, line, text);
				return -1;
			}
			if (mon_int(ag, "interval", 50, 3600000, path, err, errlen) < 0 ||
			    mon_int(ag, "missed", 1, 1000, path, err, errlen) < 0)
				return -1;
		}
	}
	return 0;
}

/* Applies every setting of cfg to c, stopping at the first bad one. */
static int apply_config(struct conf *c, config_t *cfg, const char *path,
			char *err, size_t errlen)
{
	config_setting_t *root = config_root_setting(cfg);
	char msg[512], dotted[256], num[32];
	int i, j, ng, nk;

	ng = config_setting_length(root);
	for (i = 0; i < ng; i++) {
		config_setting_t *g = config_setting_get_elem(root, (unsigned)i);
		const char *gname = config_setting_name(g);

		if (gname && !strcmp(gname, "monitors")) {
			if (check_monitors(g, setting_file(g, path), err, errlen) < 0)
				return -1;
			c->monitors = true;
			continue;
		}
		if (!gname || !is_group(gname)) {
			util_seterr(err, errlen, "%s:%d: unknown group '%s'",
			       setting_file(g, path),
			       (int)config_setting_source_line(g),
			       gname ? gname : "?");
			return -1;
		}
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			util_seterr(err, errlen, "%s:%d: '%s' must be a group { ... }",
			       setting_file(g, path),
			       (int)config_setting_source_line(g), gname);
			return -1;
		}
		nk = config_setting_length(g);
		for (j = 0; j < nk; j++) {
			config_setting_t *k = config_setting_get_elem(g,
								      (unsigned)j);
			const char *kname = config_setting_name(k);
			const struct keydef *kd;
			const char *text = NULL;
			union kval v;
			int line = (int)config_setting_source_line(k);

			snprintf(dotted, sizeof(dotted), "%s.%s", gname,
				 kname ? kname : "?");
			kd = find_key(dotted);
			if (!kd) {
				util_seterr(err, errlen, "%s:%d: unknown key '%s'",
				       setting_file(k, path), line, dotted);
				return -1;
			}
			if (setting_text(kd, k, setting_file(k, path), num,
					 sizeof(num), &text, msg,
					 sizeof(msg)) < 0 ||
			    parse_value(kd, text, &v, msg, sizeof(msg)) < 0) {
				util_seterr(err, errlen, "%s:%d: %s",
				       setting_file(k, path), line, msg);
				return -1;
			}
			store(c, kd, &v);
		}
	}
	return 0;
}

/* Reads path into work; *missing is set instead of failing when the file
 * does not exist and missing_ok. errno is kept for the caller. */
static int read_into(struct conf *work, const char *path, bool missing_ok,
		     bool *missing, char *err, size_t errlen)
{
	config_t cfg;
	struct stat st;
	FILE *fp = NULL;
	char *dir = NULL, *slash;
	int ret = -1, saved;

	*missing = false;
	config_init(&cfg);
	fp = fopen(path, "re");
	if (!fp) {
		saved = errno;
		if (saved == ENOENT && missing_ok) {
			*missing = true;
			ret = 0;
		} else
			util_seterr(err, errlen, "%s: %s", path, strerror(saved));
		errno = saved;
		goto done;
	}
	/* flex exits the process on a read error, so a directory must never
	 * reach the parser. */
	saved = fstat(fileno(fp), &st) < 0 ? errno :
		S_ISDIR(st.st_mode) ? EISDIR : 0;
	if (saved) {
		util_seterr(err, errlen, "%s: %s", path, strerror(saved));
		errno = saved;
		goto done;
	}
	/* @include is relative to the including file, not to our cwd. */
	dir = util_xstrdup(path);
	slash = strrchr(dir, '/');
	if (slash) {
		slash[slash == dir ? 1 : 0] = '\0';
		config_set_include_dir(&cfg, dir);
	}
	if (config_read(&cfg, fp) != CONFIG_TRUE) {
		const char *f = config_error_file(&cfg);

		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
			util_seterr(err, errlen, "%s: %s", f ? f : path,
			       config_error_text(&cfg));
		else
			util_seterr(err, errlen, "%s:%d: %s", f ? f : path,
			       config_error_line(&cfg), config_error_text(&cfg));
		errno = EINVAL;
		goto done;
	}
	if (apply_config(work, &cfg, path, err, errlen) < 0) {
		errno = EINVAL;
		goto done;
	}
	ret = 0;
done:
	saved = errno;
	if (fp)
		fclose(fp);
	free(dir);
	config_destroy(&cfg);
	errno = saved;
	return ret;
}

/* Replaces c by work on success; frees work on failure. */
static int commit(struct conf *c, struct conf *work, int ret)
{
	int saved = errno;

	if (ret == 0) {
		finalize(work);
		conf_free(c);
		*c = *work;
	} else
		conf_free(work);
	errno = saved;
	return ret;
}

int conf_load(struct conf *c, const char *path, bool missing_ok, char *err,
	      size_t errlen)
{
	struct conf work;
	bool missing;

	conf_init_defaults(&work);
	return commit(c, &work, read_into(&work, path, missing_ok, &missing,
					  err, errlen));
}

int conf_load_overlay(struct conf *c, const char *path, char *err,
		      size_t errlen)
{
	struct conf work;
	bool missing;

	conf_copy(&work, c);
	return commit(c, &work, read_into(&work, path, false, &missing, err,
					  errlen));
}

int conf_get(const struct conf *c, const char *key, struct util_buf *out)
{
	const struct keydef *kd = find_key(key);

	if (!kd) {
		errno = ENOENT;
		return -1;
	}
	format_value(c, kd, out);
	return 0;
}

int conf_set(struct conf *c, const char *key, const char *value, char *err,
	     size_t errlen)
{
	const struct keydef *kd = find_key(key);
	char *text = NULL, *p, *end;
	union kval v;
	int ret = -1;

	if (!kd) {
		util_seterr(err, errlen, "unknown key '%s'", key ? key : "");
		goto done;
	}
	if (!value) {
		util_seterr(err, errlen, "%s: missing value", kd->info.name);
		goto done;
	}
	/* Typed values arrive with stray blanks or in double quotes. */
	text = util_xstrdup(value);
	for (p = text; isspace((unsigned char)*p); p++)
		;
	end = p + strlen(p);
	while (end > p && isspace((unsigned char)end[-1]))
		*--end = '\0';
	if (end - p >= 2 && *p == '"' && end[-1] == '"') {
		end[-1] = '\0';
		p++;
	}
	if (parse_value(kd, p, &v, err, errlen) < 0)
		goto done;
	store(c, kd, &v);
	finalize(c);
	ret = (kd->flags & CONF_RUNTIME) ? 0 : 1;
done:
	free(text);
	return ret;
}

static void put_quoted(struct util_buf *out, const char *s)
{
	util_buf_puts(out, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			util_buf_puts(out, "\\");
		util_buf_append(out, s, 1);
	}
	util_buf_puts(out, "\"");
}

static bool wanted(const char *name, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (util_streq_ci(list[i], name))
			return true;
	return false;
}

/* Settings file text: one group block per group that has a wanted key. */
static void settings_text(const struct conf *c, const char *const *list,
			  size_t n, struct util_buf *out)
{
	struct util_buf val;
	size_t i, glen;
	const char *open = NULL;

	util_buf_init(&val);
	util_buf_puts(out, "# Values set with SET, written by dittod; "
		      "they override ditto.conf.\n");
	for (i = 0; i < UTIL_ARRAY_SIZE(keys); i++) {
		const struct keydef *kd = &keys[i];
		const char *dot = strchr(kd->info.name, '.');

		if (!wanted(kd->info.name, list, n))
			continue;
		glen = (size_t)(dot - kd->info.name);
		/* The table lists each group's keys together. */
		if (!open || strncmp(open, kd->info.name, glen + 1) != 0) {
			if (open)
				util_buf_puts(out, "};\n");
			util_buf_printf(out, "%.*s = {\n", (int)glen,
					kd->info.name);
			open = kd->info.name;
		}
		util_buf_printf(out, "  %s = ", dot + 1);
		util_buf_reset(&val);
		format_value(c, kd, &val);
		switch (kd->type) {
		case KT_BOOL:
		case KT_INT:
			util_buf_puts(out, val.data);
			break;
		default:
			/* Sizes go quoted so "128M" and "unlimited" survive. */
			put_quoted(out, val.data);
			break;
		}
		util_buf_puts(out, ";\n");
	}
	if (open)
		util_buf_puts(out, "};\n");
	util_buf_free(&val);
}

int conf_write_settings(const char *path, const struct conf *c,
			const char *const *list, size_t nkeys)
{
	struct util_buf text;
	int ret = -1, saved;
	size_t i;

	util_buf_init(&text);
	for (i = 0; i < nkeys; i++)
		if (!find_key(list[i])) {
			errno = EINVAL;
			goto done;
		}
	settings_text(c, list, nkeys, &text);
	ret = util_write_atomic(path, text.data, text.len, 0600);
done:
	saved = errno;
	util_buf_free(&text);
	errno = saved;
	return ret;
}

size_t conf_key_count(void)
{
	return UTIL_ARRAY_SIZE(keys);
}

const struct conf_keyinfo *conf_key_at(size_t i)
{
	return i < UTIL_ARRAY_SIZE(keys) ? &keys[i].info : NULL;
}

const struct conf_keyinfo *conf_key_find(const char *key)
{
	const struct keydef *kd = find_key(key);

	return kd ? &kd->info : NULL;
}

void conf_dump(const struct conf *c, struct util_buf *out)
{
	size_t i;

	for (i = 0; i < UTIL_ARRAY_SIZE(keys); i++) {
		util_buf_printf(out, "%s = ", keys[i].info.name);
		format_value(c, &keys[i], out);
		util_buf_puts(out, "\n");
	}
}

const char *conf_pid_file(const struct conf *c)
{
	return c->priv_pid_file ? c->priv_pid_file : "";
}

const char *conf_key_file(const struct conf *c)
{
	return c->priv_key_file ? c->priv_key_file : "";
}

const char *conf_queue_dir(const struct conf *c)
{
	return c->priv_queue_dir ? c->priv_queue_dir : "";
}

const char *conf_settings_file(const struct conf *c)
{
	return c->priv_settings_file ? c->priv_settings_file : "";
}

const char *conf_capture_name(const struct conf *c)
{
	static const char *const names[] = {
		[CONF_CAPTURE_FANOTIFY] = "fanotify",
		[CONF_CAPTURE_INOTIFY] = "inotify",
		[CONF_CAPTURE_LOOPSHIM] = "loopshim",
		[CONF_CAPTURE_BLOCKDRV] = "blockdrv",
	};
	unsigned i = (unsigned)c->capture.plugin;

	return i < UTIL_ARRAY_SIZE(names) ? names[i] : "";
}

const char *conf_default_path(void)
{
	return DITTO_SYSCONFDIR "/ditto/ditto.conf";
}

char *conf_text(config_t *cfg, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	if (!f)
		return NULL;
	config_write(cfg, f);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

int conf_save_file(config_t *cfg, const char *path)
{
	size_t len = 0;
	char *text = conf_text(cfg, &len);
	int ret = -1;

	if (text && util_write_atomic(path, text, len, 0600) == 0)
		ret = 0;
	free(text);
	return ret;
}
