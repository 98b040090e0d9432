#include "config.h"

/* fanotify capture: one FAN_MARK_FILESYSTEM mark per filesystem holding a
 * root, events reported with file handles (FAN_REPORT_DFID_NAME |
 * FAN_REPORT_FID), so no per-directory watch exists and a million
 * directories cost nothing. A directory handle becomes a path through
 * open_by_handle_at() on a descriptor of that filesystem plus readlink() of
 * /proc/self/fd/N; the mark sees the whole filesystem, so every event is
 * filtered against the roots.
 *
 * Names are resolved when events are read, not when they happened. Two
 * things keep that honest: a cache of directory handle -> path, filled as
 * directories are created or resolved and flushed whenever a directory is
 * renamed (so a cached path is the path at event time), and, for a
 * directory deleted before its events were read, the DELETE record of that
 * directory found in the same drained batch (FAN_REPORT_TARGET_FID gives
 * the child's handle). A handle that is still unknown yields OVERFLOW for
 * the roots on that filesystem: never a silent skip. */

#include "ditto/capture.h"
#include "../common/plugin_util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

/* Older headers lack these; the kernel says EINVAL if it lacks them too. */
#ifndef FAN_REPORT_DIR_FID
#define FAN_REPORT_DIR_FID 0x00000400
#endif
#ifndef FAN_REPORT_NAME
#define FAN_REPORT_NAME 0x00000800
#endif
#ifndef FAN_REPORT_DFID_NAME
#define FAN_REPORT_DFID_NAME (FAN_REPORT_DIR_FID | FAN_REPORT_NAME)
#endif
#ifndef FAN_REPORT_TARGET_FID
#define FAN_REPORT_TARGET_FID 0x00001000
#endif
#ifndef FAN_RENAME
#define FAN_RENAME 0x10000000
#endif
#ifndef FAN_EVENT_INFO_TYPE_DFID_NAME
#define FAN_EVENT_INFO_TYPE_DFID_NAME 2
#define FAN_EVENT_INFO_TYPE_DFID 3
#endif
#ifndef FAN_EVENT_INFO_TYPE_OLD_DFID_NAME
#define FAN_EVENT_INFO_TYPE_OLD_DFID_NAME 10
#define FAN_EVENT_INFO_TYPE_NEW_DFID_NAME 12
#endif

#define FA_BUF_MIN (64u * 1024)
#define FA_BUF_MAX (4u * 1024 * 1024)	/* bytes of events per read() call */
#define FA_READ_ROOM (16u * 1024)	/* far above one event's size */
#define FA_PATH_CAP (PATH_MAX + NAME_MAX + 2)
#define FA_CACHE_CAP 16384u		/* slots; flushed at half full */
#define FA_LINK_DEPTH 128
#define FSID_LEN 8			/* sizeof(__kernel_fsid_t) */
/* A file id as the kernel reports it and as we key it: the fsid followed by
 * a struct file_handle (handle_bytes, handle_type, f_handle[]). */
#define KEY_MAX (FSID_LEN + sizeof(struct file_handle) + MAX_HANDLE_SZ)

struct fa_fs {
	unsigned char fsid[FSID_LEN];
	int mount_fd;		/* a directory on it, for open_by_handle_at */
	unsigned nroots;	/* the mark goes with the last root */
};

struct fa_root {
	struct plugin_root loc;	/* first, for plugin_roots_*() */
	struct fa_fs *fs;
	bool present_dir;	/* exists as a directory, as far as we know */
	bool ovf;		/* OVERFLOW already emitted in this read() */
	bool self_deleted;	/* DELETE_SELF seen in this read() */
	unsigned char key[KEY_MAX];	/* its file id while present_dir */
	size_t klen;
};

struct fa_centry {		/* cache: directory file id -> path */
	unsigned char *key;
	size_t klen;
	char *path;
	size_t plen;
};

struct fa_lentry {		/* batch: deleted directory -> parent, name */
	const unsigned char *key;
	size_t klen;
	const unsigned char *pkey;
	size_t pklen;
	const char *name;
};

struct fa_ev {			/* one event's records, pointing into buf */
	uint64_t mask;
	const unsigned char *dkey, *okey, *nkey, *fkey;
	size_t dklen, oklen, nklen, fklen;
	const char *dname, *oname, *nname;
};

struct fa {
	int fd;
	const struct ditto_capture_host *host;
	uint64_t mask;
	bool rename_events;	/* FAN_RENAME (else MOVED_FROM/MOVED_TO) */
	bool target_fid;	/* FAN_REPORT_TARGET_FID */
	struct fa_root *roots;
	size_t nroots;
	struct fa_fs **fss;
	size_t nfs;
	struct fa_centry *cache;
	size_t cn;
	struct fa_lentry *links;
	size_t lcap, ln;
	unsigned char *buf;
	size_t bufcap;
	struct plugin_emitter em;	/* during read() */
	bool warned_unnamed;
	char p1[FA_PATH_CAP], p2[FA_PATH_CAP];
};

/* ---- small helpers ------------------------------------------------------ */

static uint64_t hash_bytes(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	while (n--)
		h = (h ^ *p++) * 1099511628211ull;
	return h;
}

static size_t key_len(const unsigned char *key_hdr_fh)
{
	uint32_t hb;

	memcpy(&hb, key_hdr_fh + FSID_LEN, sizeof(hb));
	return FSID_LEN + sizeof(struct file_handle) + hb;
}

/* ---- emitting ----------------------------------------------------------- */

/* One path, its length at hand (the paths are built in fixed buffers). */
static void emit1(struct fa *fa, uint32_t type, uint32_t flags, const char *p,
		  size_t plen)
{
	plugin_emit(&fa->em, type, flags, p, plen);
}

static bool in_roots(struct fa *fa, const struct fa_fs *fs, const char *p,
		     size_t plen)
{
	size_t i;

	for (i = 0; i < fa->nroots; i++)
		if (fa->roots[i].fs == fs &&
		    plugin_path_under(p, plen, fa->roots[i].loc.path,
				      fa->roots[i].loc.len))
			return true;
	return false;
}

static void overflow_root(struct fa *fa, struct fa_root *r)
{
	if (r->ovf)
		return;
	r->ovf = true;
	emit1(fa, DITTO_CAPTURE_OVERFLOW, 0, r->loc.path, r->loc.len);
}

/* Something happened on fs that we cannot name: resync all its roots. */
static void overflow_fs(struct fa *fa, const struct fa_fs *fs)
{
	size_t i;

	for (i = 0; i < fa->nroots; i++)
		if (!fs || fa->roots[i].fs == fs)
			overflow_root(fa, &fa->roots[i]);
}

static void root_set_key(struct fa_root *r)
{
	struct {
		struct file_handle fh;
		unsigned char b[MAX_HANDLE_SZ];
	} h;
	int mnt;

	r->klen = 0;
	h.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(AT_FDCWD, r->loc.path, &h.fh, &mnt, 0) < 0)
		return;
	memcpy(r->key, r->fs->fsid, FSID_LEN);
	memcpy(r->key + FSID_LEN, &h, sizeof(h.fh) + h.fh.handle_bytes);
	r->klen = FSID_LEN + sizeof(h.fh) + h.fh.handle_bytes;
}

/* p (a directory, or anything when !isdir) went away: roots at or beneath
 * it are gone. */
static void roots_removed(struct fa *fa, const struct fa_fs *fs, const char *p,
			  size_t plen, bool isdir)
{
	size_t i;

	if (!isdir)
		return;
	for (i = 0; i < fa->nroots; i++) {
		struct fa_root *r = &fa->roots[i];

		if (r->fs != fs || !r->present_dir ||
		    !plugin_path_under(r->loc.path, r->loc.len, p, plen))
			continue;
		r->present_dir = false;
		r->klen = 0;
		emit1(fa, DITTO_CAPTURE_ROOT_GONE, DITTO_CAPTURE_IS_DIR,
		      r->loc.path, r->loc.len);
	}
}

/* Directory p appeared; roots at or beneath it may exist again. A root that
 * came back inside a moved-in ancestor that is not itself under a root is
 * reported as MOVED_TO so the agent resyncs it. */
static void roots_appeared(struct fa *fa, const struct fa_fs *fs,
			   const char *p, size_t plen, bool moved, bool emitted)
{
	size_t i;

	for (i = 0; i < fa->nroots; i++) {
		struct fa_root *r = &fa->roots[i];
		struct stat sb;

		if (r->fs != fs || r->present_dir ||
		    !plugin_path_under(r->loc.path, r->loc.len, p, plen))
			continue;
		if (lstat(r->loc.path, &sb) < 0 || !S_ISDIR(sb.st_mode))
			continue;
		r->present_dir = true;
		root_set_key(r);
		if (moved && !emitted && plen != r->loc.len)
			emit1(fa, DITTO_CAPTURE_MOVED_TO, DITTO_CAPTURE_IS_DIR,
			      r->loc.path, r->loc.len);
	}
}

/* The directory with file id key was deleted (DELETE_SELF). The DELETE
 * in its parent normally follows and says so; whatever it leaves unsaid is
 * said at the end of the batch, so ROOT_GONE never precedes that DELETE. */
static void roots_self_deleted(struct fa *fa, const unsigned char *key,
			       size_t klen)
{
	size_t i;

	for (i = 0; i < fa->nroots; i++) {
		struct fa_root *r = &fa->roots[i];

		if (r->present_dir && r->klen == klen &&
		    !memcmp(r->key, key, klen))
			r->self_deleted = true;
	}
}

static void roots_self_deleted_flush(struct fa *fa)
{
	size_t i;

	for (i = 0; i < fa->nroots; i++) {
		struct fa_root *r = &fa->roots[i];

		if (!r->self_deleted)
			continue;
		r->self_deleted = false;
		if (!r->present_dir)
			continue;
		r->present_dir = false;
		r->klen = 0;
		emit1(fa, DITTO_CAPTURE_ROOT_GONE, DITTO_CAPTURE_IS_DIR,
		      r->loc.path, r->loc.len);
	}
}

/* ---- directory handle -> path ------------------------------------------- */

static void cache_clear(struct fa *fa)
{
	size_t i;

	if (!fa->cache)
		return;
	for (i = 0; i < FA_CACHE_CAP; i++) {
		free(fa->cache[i].key);
		free(fa->cache[i].path);
	}
	memset(fa->cache, 0, FA_CACHE_CAP * sizeof(*fa->cache));
	fa->cn = 0;
}

static struct fa_centry *cache_slot(struct fa *fa, const unsigned char *key,
				    size_t klen)
{
	size_t i = (size_t)hash_bytes(key, klen) & (FA_CACHE_CAP - 1);

	for (;; i = (i + 1) & (FA_CACHE_CAP - 1)) {
		struct fa_centry *c = &fa->cache[i];

		if (!c->key || (c->klen == klen && !memcmp(c->key, key, klen)))
			return c;
	}
}

static void cache_put(struct fa *fa, const unsigned char *key, size_t klen,
		      const char *path, size_t plen)
{
	struct fa_centry *c;
	char *pc;

	if (!fa->cache) {
		fa->cache = calloc(FA_CACHE_CAP, sizeof(*fa->cache));
		if (!fa->cache)
			return;
	}
	if (fa->cn >= FA_CACHE_CAP / 2)
		cache_clear(fa);
	c = cache_slot(fa, key, klen);
	pc = malloc(plen + 1);
	if (!pc)
		return;
	memcpy(pc, path, plen + 1);
	if (!c->key) {
		c->key = malloc(klen);
		if (!c->key) {
			free(pc);
			return;
		}
		memcpy(c->key, key, klen);
		c->klen = klen;
		fa->cn++;
	}
	free(c->path);
	c->path = pc;
	c->plen = plen;
}

static const struct fa_lentry *link_find(struct fa *fa,
					 const unsigned char *key, size_t klen)
{
	size_t i;

	if (!fa->ln)
		return NULL;
	i = (size_t)hash_bytes(key, klen) & (fa->lcap - 1);
	for (;; i = (i + 1) & (fa->lcap - 1)) {
		struct fa_lentry *l = &fa->links[i];

		if (!l->key)
			return NULL;
		if (l->klen == klen && !memcmp(l->key, key, klen))
			return l;
	}
}

static struct fa_fs *find_fs(struct fa *fa, const unsigned char *key)
{
	size_t i;

	for (i = 0; i < fa->nfs; i++)
		if (!memcmp(fa->fss[i]->fsid, key, FSID_LEN))
			return fa->fss[i];
	return NULL;
}

/* Path of a directory from its file id, into out (FA_PATH_CAP bytes).
 * 0: done; 1: the directory is gone and nothing tells where it was;
 * -1: it cannot be named (logged). */
static int dir_path(struct fa *fa, const struct fa_fs *fs,
		    const unsigned char *key, size_t klen, char *out,
		    size_t *olen, unsigned depth)
{
	const struct fa_lentry *l;
	char proc[64];
	ssize_t n;
	int fd, ret;

	if (fa->cache && fa->cn) {
		const struct fa_centry *c = cache_slot(fa, key, klen);

		if (c->key) {
			memcpy(out, c->path, c->plen + 1);
			*olen = c->plen;
			return 0;
		}
	}
	/* The handle sits 4-byte aligned in the event, as the struct needs;
	 * the kernel only reads it. */
	fd = open_by_handle_at(fs->mount_fd,
			       (struct file_handle *)(uintptr_t)(key + FSID_LEN),
			       O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		n = readlink(proc, out, PATH_MAX);
		ret = 0;
		if (n <= 0 || n >= PATH_MAX || out[0] != '/') {
			ret = -1;
		} else {
			static const char del[] = " (deleted)";
			struct stat sb;

			out[n] = '\0';
			if ((size_t)n > sizeof(del) - 1 &&
			    !strcmp(out + n - (sizeof(del) - 1), del) &&
			    fstat(fd, &sb) == 0 && sb.st_nlink == 0)
				ret = 1;
		}
		close(fd);
		if (ret == 0) {
			*olen = (size_t)n;
			cache_put(fa, key, klen, out, *olen);
			return 0;
		}
		if (ret < 0 && !fa->warned_unnamed) {
			fa->warned_unnamed = true;
			plugin_log(fa->host, DITTO_CAPTURE_LOG_WARNING,
				   "fanotify: a directory's path is too long "
				   "or outside this mount; resyncing its "
				   "roots");
		}
		if (ret < 0)
			return -1;
	} else if (errno != ESTALE && errno != ENOENT) {
		plugin_log(fa->host, DITTO_CAPTURE_LOG_WARNING,
			   "fanotify: open_by_handle_at: %s; resyncing roots",
			   strerror(errno));
		return -1;
	}
	/* Deleted: where was it when its own DELETE was reported? */
	l = link_find(fa, key, klen);
	if (!l || depth >= FA_LINK_DEPTH)
		return 1;
	ret = dir_path(fa, fs, l->pkey, l->pklen, out, olen, depth + 1);
	if (ret)
		return ret;
	n = (ssize_t)strlen(l->name);
	if (*olen + 1 + (size_t)n + 1 > FA_PATH_CAP)
		return -1;
	if (*olen > 1)
		out[(*olen)++] = '/';
	memcpy(out + *olen, l->name, (size_t)n + 1);
	*olen += (size_t)n;
	return 0;
}

/* Path of directory entry (dkey, name) into out; name "." is the directory
 * itself. On failure the fs's roots get OVERFLOW. */
static int entry_path(struct fa *fa, const struct fa_fs *fs,
		      const unsigned char *dkey, size_t dklen,
		      const char *name, char *out, size_t *olen)
{
	size_t nl;
	int r;

	r = dir_path(fa, fs, dkey, dklen, out, olen, 0);
	if (r) {
		overflow_fs(fa, fs);
		return -1;
	}
	if (!name || !strcmp(name, "."))
		return 0;
	nl = strlen(name);
	if (*olen + 1 + nl + 1 > FA_PATH_CAP) {
		overflow_fs(fa, fs);
		return -1;
	}
	if (*olen > 1)
		out[(*olen)++] = '/';
	memcpy(out + *olen, name, nl + 1);
	*olen += nl;
	return 0;
}

/* ---- events ------------------------------------------------------------- */

/* Splits one event into its records. -1 when malformed. */
static int parse_event(const unsigned char *p, size_t len, struct fa_ev *e)
{
	struct fanotify_event_metadata md;
	size_t off;

	memset(e, 0, sizeof(*e));
	memcpy(&md, p, sizeof(md));
	if (md.metadata_len < FAN_EVENT_METADATA_LEN || md.metadata_len > len)
		return -1;
	e->mask = md.mask;
	for (off = md.metadata_len; off < len;) {
		struct fanotify_event_info_header hdr;
		const unsigned char *rec = p + off, *key;
		size_t klen, fixed = sizeof(hdr) + FSID_LEN +
				     sizeof(struct file_handle);
		const char *name = NULL;

		if (len - off < sizeof(hdr))
			return -1;
		memcpy(&hdr, rec, sizeof(hdr));
		if (hdr.len < sizeof(hdr) || hdr.len > len - off)
			return -1;
		off += hdr.len;
		if (hdr.info_type != FAN_EVENT_INFO_TYPE_FID &&
		    hdr.info_type != FAN_EVENT_INFO_TYPE_DFID &&
		    hdr.info_type != FAN_EVENT_INFO_TYPE_DFID_NAME &&
		    hdr.info_type != FAN_EVENT_INFO_TYPE_OLD_DFID_NAME &&
		    hdr.info_type != FAN_EVENT_INFO_TYPE_NEW_DFID_NAME)
			continue;	/* pidfd, error, ...: not ours */
		if (hdr.len < fixed)
			return -1;
		key = rec + sizeof(hdr);
		klen = key_len(key);
		if (klen > KEY_MAX || sizeof(hdr) + klen > hdr.len)
			return -1;
		if (hdr.info_type == FAN_EVENT_INFO_TYPE_DFID_NAME ||
		    hdr.info_type == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME ||
		    hdr.info_type == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME) {
			name = (const char *)key + klen;
			if (!memchr(name, '\0', hdr.len - sizeof(hdr) - klen))
				return -1;
		}
		switch (hdr.info_type) {
		case FAN_EVENT_INFO_TYPE_FID:
			e->fkey = key, e->fklen = klen;
			break;
		case FAN_EVENT_INFO_TYPE_DFID:
		case FAN_EVENT_INFO_TYPE_DFID_NAME:
			e->dkey = key, e->dklen = klen, e->dname = name;
			break;
		case FAN_EVENT_INFO_TYPE_OLD_DFID_NAME:
			e->okey = key, e->oklen = klen, e->oname = name;
			break;
		default:
			e->nkey = key, e->nklen = klen, e->nname = name;
			break;
		}
	}
	return 0;
}

static void do_rename(struct fa *fa, const struct fa_ev *e, bool isdir)
{
	struct fa_fs *fs = find_fs(fa, e->okey);
	uint32_t fl = isdir ? DITTO_CAPTURE_IS_DIR : 0;
	size_t l1 = 0, l2 = 0;
	bool ok1, ok2, in1, in2;

	if (!fs || !e->nkey)
		return;
	ok1 = entry_path(fa, fs, e->okey, e->oklen, e->oname, fa->p1, &l1) == 0;
	ok2 = entry_path(fa, fs, e->nkey, e->nklen, e->nname, fa->p2, &l2) == 0;
	if (isdir) {
		/* Every cached path beneath it is stale now. */
		cache_clear(fa);
		if (ok2 && e->fkey)
			cache_put(fa, e->fkey, e->fklen, fa->p2, l2);
	}
	in1 = ok1 && in_roots(fa, fs, fa->p1, l1);
	in2 = ok2 && in_roots(fa, fs, fa->p2, l2);
	if (in1 && in2)
		plugin_emit2(&fa->em, DITTO_CAPTURE_RENAME, fl, fa->p1, l1,
			     fa->p2, l2);
	else if (in1)
		emit1(fa, DITTO_CAPTURE_MOVED_FROM, fl, fa->p1, l1);
	else if (in2)
		emit1(fa, DITTO_CAPTURE_MOVED_TO, fl, fa->p2, l2);
	if (ok1)
		roots_removed(fa, fs, fa->p1, l1, isdir);
	if (ok2 && isdir)
		roots_appeared(fa, fs, fa->p2, l2, true, in2);
}

/* What a merged event says about p's content and metadata, last in the
 * order capture.h asks for. */
static void emit_changes(struct fa *fa, uint64_t m, uint32_t fl,
			 const char *p, size_t plen)
{
	if (m & FAN_MODIFY)
		emit1(fa, DITTO_CAPTURE_MODIFY, fl, p, plen);
	if (m & FAN_ATTRIB)
		emit1(fa, DITTO_CAPTURE_ATTRIB, fl, p, plen);
	if (m & FAN_CLOSE_WRITE)
		emit1(fa, DITTO_CAPTURE_CLOSE_WRITE, fl, p, plen);
}

/* An event without a name: the object itself (a directory reported as
 * "." or a non-directory with only its own id). */
static void do_self(struct fa *fa, const struct fa_ev *e, bool isdir)
{
	const unsigned char *key = e->dkey ? e->dkey : e->fkey;
	size_t klen = e->dkey ? e->dklen : e->fklen, l = 0;
	uint32_t fl = isdir ? DITTO_CAPTURE_IS_DIR : 0;
	uint64_t m = e->mask;
	struct fa_fs *fs = find_fs(fa, key);
	char proc[64];
	ssize_t n;
	int fd;

	if (!fs)
		return;
	if (m & FAN_DELETE_SELF) {
		/* Gone: the other bits describe a dead object. */
		if (isdir)
			roots_self_deleted(fa, key, klen);
		return;
	}
	if (!(m & (FAN_MODIFY | FAN_ATTRIB | FAN_CLOSE_WRITE)))
		return;
	if (isdir) {
		if (entry_path(fa, fs, key, klen, NULL, fa->p1, &l) < 0)
			return;
	} else {
		/* A link count change or a write through a disconnected
		 * dentry: name the file if it still has a name; if it has
		 * none, its DELETE tells the story. */
		fd = open_by_handle_at(fs->mount_fd,
				       (struct file_handle *)(uintptr_t)(key +
								FSID_LEN),
				       O_PATH | O_CLOEXEC);
		if (fd < 0)
			return;
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		n = readlink(proc, fa->p1, PATH_MAX);
		close(fd);
		if (n <= 0 || n >= PATH_MAX || fa->p1[0] != '/')
			return;
		fa->p1[n] = '\0';
		if (strstr(fa->p1, " (deleted)"))
			return;
		l = (size_t)n;
	}
	if (in_roots(fa, fs, fa->p1, l))
		emit_changes(fa, m, fl, fa->p1, l);
}

static void do_event(struct fa *fa, const struct fa_ev *e)
{
	uint64_t m = e->mask;
	bool isdir = (m & FAN_ONDIR) != 0;
	uint32_t fl = isdir ? DITTO_CAPTURE_IS_DIR : 0;
	struct fa_fs *fs;
	size_t l = 0;
	bool in;

	if (m & FAN_RENAME) {
		if (e->okey)
			do_rename(fa, e, isdir);
		return;
	}
	if (!e->dkey || !e->dname || !strcmp(e->dname, ".")) {
		if (e->dkey || e->fkey)
			do_self(fa, e, isdir);
		return;
	}
	fs = find_fs(fa, e->dkey);
	if (!fs)
		return;	/* a filesystem we dropped; its events linger */
	if (entry_path(fa, fs, e->dkey, e->dklen, e->dname, fa->p1, &l) < 0)
		return;
	in = in_roots(fa, fs, fa->p1, l);
	/* A merged event lost its order: removals first, then appearances,
	 * then content (see capture.h). */
	if (m & FAN_MOVED_FROM) {
		if (isdir)
			cache_clear(fa);
		if (in)
			emit1(fa, DITTO_CAPTURE_MOVED_FROM, fl, fa->p1, l);
		roots_removed(fa, fs, fa->p1, l, isdir);
	}
	if (m & FAN_DELETE) {
		if (in)
			emit1(fa, DITTO_CAPTURE_DELETE, fl, fa->p1, l);
		roots_removed(fa, fs, fa->p1, l, isdir);
	}
	if (m & FAN_CREATE) {
		if (isdir && e->fkey)
			cache_put(fa, e->fkey, e->fklen, fa->p1, l);
		if (in)
			emit1(fa, DITTO_CAPTURE_CREATE, fl, fa->p1, l);
		if (isdir)
			roots_appeared(fa, fs, fa->p1, l, false, in);
	}
	if (m & FAN_MOVED_TO) {
		if (isdir) {
			cache_clear(fa);
			if (e->fkey)
				cache_put(fa, e->fkey, e->fklen, fa->p1, l);
		}
		if (in)
			emit1(fa, DITTO_CAPTURE_MOVED_TO, fl, fa->p1, l);
		if (isdir)
			roots_appeared(fa, fs, fa->p1, l, true, in);
	}
	if (in)
		emit_changes(fa, m, fl, fa->p1, l);
}

/* Walks the events in buf: with links, records each deleted directory in
 * the link table; without, handles every event. */
static int walk(struct fa *fa, size_t len, bool links)
{
	size_t off = 0, i;
	struct fa_ev e;

	while (len - off >= FAN_EVENT_METADATA_LEN) {
		struct fanotify_event_metadata md;
		const unsigned char *p = fa->buf + off;

		/* Records are 4-byte aligned, the 64-bit mask is not. */
		memcpy(&md, p, sizeof(md));
		if (md.vers != FANOTIFY_METADATA_VERSION) {
			plugin_log(fa->host, DITTO_CAPTURE_LOG_ERROR,
				   "fanotify: event metadata version %u, "
				   "expected %u", md.vers,
				   FANOTIFY_METADATA_VERSION);
			return -1;
		}
		if (md.event_len < FAN_EVENT_METADATA_LEN ||
		    md.event_len > len - off) {
			plugin_log(fa->host, DITTO_CAPTURE_LOG_ERROR,
				   "fanotify: truncated event");
			return -1;
		}
		off += md.event_len;
		if (links) {
			if (!(md.mask & FAN_DELETE) || !(md.mask & FAN_ONDIR))
				continue;
			if (parse_event(p, md.event_len, &e) < 0 || !e.fkey ||
			    !e.dkey || !e.dname || !strcmp(e.dname, "."))
				continue;
			i = (size_t)hash_bytes(e.fkey, e.fklen) &
			    (fa->lcap - 1);
			while (fa->links[i].key &&
			       !(fa->links[i].klen == e.fklen &&
				 !memcmp(fa->links[i].key, e.fkey, e.fklen)))
				i = (i + 1) & (fa->lcap - 1);
			if (!fa->links[i].key)
				fa->ln++;
			fa->links[i] = (struct fa_lentry){
				.key = e.fkey, .klen = e.fklen,
				.pkey = e.dkey, .pklen = e.dklen,
				.name = e.dname,
			};
			continue;
		}
		if (md.fd >= 0)
			close(md.fd);	/* none in FID mode, but never leak */
		if (md.mask & FAN_Q_OVERFLOW) {
			plugin_log(fa->host, DITTO_CAPTURE_LOG_WARNING,
				   "fanotify: event queue overflowed; "
				   "resyncing every root");
			cache_clear(fa);
			overflow_fs(fa, NULL);
			continue;
		}
		if (parse_event(p, md.event_len, &e) < 0) {
			plugin_log(fa->host, DITTO_CAPTURE_LOG_WARNING,
				   "fanotify: malformed event (mask %#llx); "
				   "resyncing every root",
				   (unsigned long long)md.mask);
			overflow_fs(fa, NULL);
			continue;
		}
		do_event(fa, &e);
	}
	return 0;
}

static int fa_read(void *st, ditto_capture_emit_fn emit, void *ctx)
{
	struct fa *fa = st;
	size_t len = 0, i, ndel = 0, off;
	int ret = -1;
	bool broken = false;

	plugin_emit_begin(&fa->em, emit, ctx);
	fa->warned_unnamed = false;
	for (i = 0; i < fa->nroots; i++)
		fa->roots[i].ovf = false;
	/* Drain first: a directory deleted before we look at its events has
	 * its DELETE already queued, so it is in this batch. */
	for (;;) {
		ssize_t n;

		if (fa->bufcap - len < FA_READ_ROOM) {
			unsigned char *nb;

			if (fa->bufcap >= FA_BUF_MAX)
				break;
			nb = realloc(fa->buf, fa->bufcap * 2);
			if (!nb)
				break;
			fa->buf = nb;
			fa->bufcap *= 2;
		}
		n = read(fa->fd, fa->buf + len, fa->bufcap - len);
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN) {
			plugin_log(fa->host, DITTO_CAPTURE_LOG_ERROR,
				   "fanotify: read: %s", strerror(errno));
			broken = true;
		}
		break;
	}
	/* Size the link table for this batch (FAN_DELETE|FAN_ONDIR ones). */
	for (off = 0; len - off >= FAN_EVENT_METADATA_LEN;) {
		struct fanotify_event_metadata md;

		memcpy(&md, fa->buf + off, sizeof(md));
		if (md.event_len < FAN_EVENT_METADATA_LEN ||
		    md.event_len > len - off)
			break;
		if ((md.mask & FAN_DELETE) && (md.mask & FAN_ONDIR))
			ndel++;
		off += md.event_len;
	}
	fa->ln = 0;
	if (ndel) {
		size_t cap = 16;

		while (cap < ndel * 2)
			cap *= 2;
		if (cap > fa->lcap) {
			struct fa_lentry *nl = realloc(fa->links,
						       cap * sizeof(*nl));

			if (nl) {
				fa->links = nl;
				fa->lcap = cap;
			}
		}
		if (fa->lcap >= ndel * 2) {
			memset(fa->links, 0, fa->lcap * sizeof(*fa->links));
			if (walk(fa, len, true) < 0)
				goto done;
		}
	}
	if (walk(fa, len, false) < 0)
		goto done;
	roots_self_deleted_flush(fa);
	if (!broken)
		ret = fa->em.n;
done:
	fa->ln = 0;
	plugin_emit_end(&fa->em);
	return ret;
}

/* ---- setup -------------------------------------------------------------- */

static int have_caps(char *missing, size_t len)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	bool admin, dac;

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) < 0)
		return -1;
	admin = data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective &
		CAP_TO_MASK(CAP_SYS_ADMIN);
	dac = data[CAP_TO_INDEX(CAP_DAC_READ_SEARCH)].effective &
	      CAP_TO_MASK(CAP_DAC_READ_SEARCH);
	snprintf(missing, len, "%s%s%s", admin ? "" : "CAP_SYS_ADMIN",
		 !admin && !dac ? " and " : "",
		 dac ? "" : "CAP_DAC_READ_SEARCH");
	return admin && dac ? 1 : 0;
}

static void fa_close(void *st)
{
	struct fa *fa = st;
	size_t i;

	if (!fa)
		return;
	if (fa->fd >= 0)
		close(fa->fd);
	for (i = 0; i < fa->nroots; i++)
		plugin_root_free(&fa->roots[i].loc);
	for (i = 0; i < fa->nfs; i++) {
		close(fa->fss[i]->mount_fd);
		free(fa->fss[i]);
	}
	cache_clear(fa);
	free(fa->cache);
	free(fa->links);
	free(fa->roots);
	free(fa->fss);
	free(fa->buf);
	free(fa);
}

static int fa_open(void **state, const struct ditto_capture_host *host,
		   char *err, size_t errlen)
{
	struct fa *fa = NULL;
	struct utsname un;
	char missing[64];
	unsigned base = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK |
			FAN_REPORT_DFID_NAME | FAN_REPORT_FID;
	const char *q = getenv("DITTO_FANOTIFY_QUEUE");

	/* A filesystem mark sees every change on the filesystem, ours or not:
	 * the kernel's bounded queue overflows under unrelated load and forces
	 * a remirror, so it is unlimited (we hold CAP_SYS_ADMIN anyway) and
	 * drained promptly by the agent. DITTO_FANOTIFY_QUEUE=bounded keeps the
	 * kernel default, to exercise overflow handling. */
	if (!q || strcmp(q, "bounded"))
		base |= FAN_UNLIMITED_QUEUE;
	int ret = -1, caps;

	*state = NULL;
	if (uname(&un) < 0)
		snprintf(un.release, sizeof(un.release), "?");
	if (plugin_check_host(host, "fanotify", err, errlen) < 0)
		goto done;
	/* Marking a whole filesystem takes CAP_SYS_ADMIN and turning handles
	 * into files CAP_DAC_READ_SEARCH; say so up front rather than fail at
	 * the first add_root. */
	caps = have_caps(missing, sizeof(missing));
	if (caps == 0) {
		plugin_seterr(err, errlen, "fanotify capture needs %s (uid "
			      "%u lacks it): use the inotify plugin", missing,
			      (unsigned)geteuid());
		errno = EPERM;
		goto done;
	}
	fa = calloc(1, sizeof(*fa));
	if (!fa || !(fa->buf = malloc(FA_BUF_MIN))) {
		plugin_seterr(err, errlen, "fanotify: out of memory");
		goto done;
	}
	fa->bufcap = FA_BUF_MIN;
	fa->host = host;
	/* FAN_REPORT_TARGET_FID and FAN_RENAME came together (Linux 5.17);
	 * before that, renames arrive as unpaired MOVED_FROM/MOVED_TO. */
	fa->fd = fanotify_init(base | FAN_REPORT_TARGET_FID,
			       O_RDONLY | O_LARGEFILE);
	if (fa->fd >= 0) {
		fa->target_fid = fa->rename_events = true;
	} else if (errno == EINVAL) {
		fa->fd = fanotify_init(base, O_RDONLY | O_LARGEFILE);
	}
	if (fa->fd < 0) {
		if (errno == EINVAL)
			plugin_seterr(err, errlen, "fanotify: kernel %s "
				      "lacks FAN_REPORT_DFID_NAME (Linux 5.9 "
				      "or later needed): use the inotify "
				      "plugin", un.release);
		else if (errno == EPERM)
			plugin_seterr(err, errlen, "fanotify capture needs "
				      "CAP_SYS_ADMIN: use the inotify plugin");
		else if (errno == ENOSYS)
			plugin_seterr(err, errlen, "fanotify: kernel %s "
				      "built without fanotify: use the inotify "
				      "plugin", un.release);
		else
			plugin_seterr(err, errlen, "fanotify_init: %s",
				      strerror(errno));
		goto done;
	}
	fa->mask = FAN_CREATE | FAN_DELETE | FAN_MODIFY | FAN_CLOSE_WRITE |
		   FAN_ATTRIB | FAN_DELETE_SELF | FAN_ONDIR |
		   FAN_EVENT_ON_CHILD;
	/* With FAN_RENAME, MOVED_FROM/MOVED_TO would only repeat it. */
	fa->mask |= fa->rename_events ? FAN_RENAME :
					FAN_MOVED_FROM | FAN_MOVED_TO;
	plugin_log(fa->host, DITTO_CAPTURE_LOG_INFO, "fanotify: kernel %s, %s",
		   un.release, fa->rename_events ?
		   "FAN_RENAME and FAN_REPORT_TARGET_FID available" :
		   "no FAN_RENAME: renames reported as MOVED_FROM/MOVED_TO");
	*state = fa;
	fa = NULL;
	ret = 0;
done:
	fa_close(fa);
	return ret;
}

static const char *mark_error(int e)
{
	switch (e) {
	case EPERM:
		return "permission denied (CAP_SYS_ADMIN needed)";
	case ENODEV:
	case EOPNOTSUPP:
		return "the filesystem does not support file handles "
		       "(use the inotify plugin for it)";
	case EXDEV:
		return "fanotify cannot mark this filesystem as a whole "
		       "(a btrfs subvolume or overlayfs?): use the inotify "
		       "plugin";
	default:
		return strerror(e);
	}
}

static int fa_add_root(void *st, const char *path, char *err, size_t errlen)
{
	struct fa *fa = st;
	struct fa_root *r, *nr;
	struct fa_fs *fs = NULL, **nf;
	struct statfs sfs;
	struct stat sb;
	struct plugin_root loc;
	char *anchor = NULL;
	bool isdir;
	int dfd = -1, ret = -1, init;

	init = plugin_root_init(&loc, fa->roots, fa->nroots,
				sizeof(*fa->roots), path, "fanotify", err,
				errlen);
	if (init)
		return init < 0 ? -1 : 0;	/* failed, or already a root */
	isdir = lstat(loc.path, &sb) == 0 && S_ISDIR(sb.st_mode);
	/* A root that is a file or does not exist yet is watched through
	 * its nearest existing directory: the mark covers the whole
	 * filesystem, the path filter does the rest. */
	anchor = strdup(loc.path);
	if (!anchor)
		goto nomem;
	for (;;) {
		char *slash;

		if (lstat(anchor, &sb) == 0 && S_ISDIR(sb.st_mode))
			break;
		slash = strrchr(anchor, '/');
		if (!slash || slash == anchor) {
			strcpy(anchor, "/");
			break;
		}
		*slash = '\0';
	}
	dfd = open(anchor, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fstatfs(dfd, &sfs) < 0) {
		plugin_seterr(err, errlen, "fanotify: cannot open %s: %s",
			      anchor, strerror(errno));
		goto done;
	}
	for (size_t i = 0; i < fa->nfs; i++)
		if (!memcmp(fa->fss[i]->fsid, &sfs.f_fsid, FSID_LEN))
			fs = fa->fss[i];
	nr = realloc(fa->roots, (fa->nroots + 1) * sizeof(*nr));
	if (!nr)
		goto nomem;
	fa->roots = nr;
	if (!fs) {
		nf = realloc(fa->fss, (fa->nfs + 1) * sizeof(*nf));
		if (!nf)
			goto nomem;
		fa->fss = nf;
		fs = calloc(1, sizeof(*fs));
		if (!fs)
			goto nomem;
		if (fanotify_mark(fa->fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM,
				  fa->mask, dfd, NULL) < 0) {
			plugin_seterr(err, errlen, "fanotify: cannot mark the "
				      "filesystem of %s: %s", anchor,
				      mark_error(errno));
			free(fs);
			goto done;
		}
		memcpy(fs->fsid, &sfs.f_fsid, FSID_LEN);
		fs->mount_fd = dfd;
		dfd = -1;
		fa->fss[fa->nfs++] = fs;
	}
	r = &fa->roots[fa->nroots++];
	memset(r, 0, sizeof(*r));
	r->loc = loc;
	r->fs = fs;
	r->present_dir = isdir;
	if (isdir)
		root_set_key(r);
	fs->nroots++;
	memset(&loc, 0, sizeof(loc));	/* the root set owns it now */
	ret = 0;
	goto done;
nomem:
	plugin_seterr(err, errlen, "fanotify: out of memory");
done:
	if (dfd >= 0)
		close(dfd);
	plugin_root_free(&loc);
	free(anchor);
	return ret;
}

static int fa_remove_root(void *st, const char *path)
{
	struct fa *fa = st;
	struct fa_root *r;
	struct fa_fs *fs;
	size_t i;

	/* loc is first: the plugin_root found is an fa_root's */
	r = (struct fa_root *)plugin_roots_lookup(fa->roots, fa->nroots,
						  sizeof(*fa->roots), path);
	if (!r)
		return -1;	/* errno ENOENT */
	fs = r->fs;
	plugin_root_free(&r->loc);
	*r = fa->roots[--fa->nroots];
	if (--fs->nroots)
		return 0;
	/* Last root on it: drop the mark. Queued events for it are ignored
	 * once its fsid is unknown. */
	if (fanotify_mark(fa->fd, FAN_MARK_REMOVE | FAN_MARK_FILESYSTEM,
			  fa->mask, fs->mount_fd, NULL) < 0)
		plugin_log(fa->host, DITTO_CAPTURE_LOG_WARNING,
			   "fanotify: removing a filesystem mark: %s",
			   strerror(errno));
	close(fs->mount_fd);
	for (i = 0; i < fa->nfs; i++)
		if (fa->fss[i] == fs)
			fa->fss[i] = fa->fss[--fa->nfs];
	free(fs);
	cache_clear(fa);
	return 0;
}

static int fa_get_fd(void *st)
{
	return ((struct fa *)st)->fd;
}

static const struct ditto_capture_ops fanotify_ops = {
	.abi_version = DITTO_CAPTURE_ABI_VERSION,
	.struct_size = sizeof(struct ditto_capture_ops),
	.name = "fanotify",
	.description = "fanotify filesystem marks with file handles "
		       "(needs CAP_SYS_ADMIN)",
	.open = fa_open,
	.add_root = fa_add_root,
	.remove_root = fa_remove_root,
	.get_fd = fa_get_fd,
	.read = fa_read,
	.close = fa_close,
};

PLUGIN_EXPORT const struct ditto_capture_ops *ditto_capture_plugin(void)
{
	return &fanotify_ops;
}
