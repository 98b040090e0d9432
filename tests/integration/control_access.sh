#!/bin/bash
# Access to the control socket by peer credentials: root and dtadmin members
# may do everything, dtmon members only read, anyone else is refused and the
# refusal is logged. Needs root to create the test users and groups.
. "$(dirname "$0")/lib.sh"
need_root "creating test users and groups"
command -v runuser >/dev/null || skip "runuser (util-linux) missing"

# Groups the host already has are used as they are; ones we create go again.
for g in dtadmin dtmon; do
	if ! getent group "$g" >/dev/null; then
		groupadd "$g" || fail "groupadd $g"
		it_on_exit "groupdel $g"
	fi
done
mkuser() {
	local u=$1 g=$2
	userdel -r "$u" >/dev/null 2>&1
	useradd -M -s /bin/sh ${g:+-G "$g"} "$u" || fail "useradd $u"
	it_on_exit "userdel $u"
}
mkuser ditto_it_adm dtadmin
mkuser ditto_it_mon dtmon
mkuser ditto_it_none ""

start_agent beta
as() { local u=$1; shift; runuser -u "$u" -- "$DTCL" -s "$(agent_sock beta)" "$@"; }

expect_rc 0 as ditto_it_mon -c STATUS
expect_out 'Your access: +monitor \(dtmon, read-only\)'
expect_rc 0 as ditto_it_mon -c 'GET log.max_files'
expect_rc 1 as ditto_it_mon -c 'SET log.max_files=6'
expect_out 'permission denied'
expect_rc 0 dtcl_at beta -c 'GET log.max_files'
expect_out '= 5$'
pass "dtmon member reads but may not change"

expect_rc 0 as ditto_it_adm -c STATUS
expect_out 'Your access: +administrator'
expect_rc 0 as ditto_it_adm -c 'SET log.max_files=6'
expect_rc 0 dtcl_at beta -c 'GET log.max_files'
expect_out '= 6$'
pass "dtadmin member may change"

expect_rc 1 as ditto_it_none -c STATUS
expect_out 'access refused'
agent_log beta | grep -q "Control access refused for uid $(id -u ditto_it_none) (ditto_it_none)" \
	|| fail "refusal not logged"
pass "others are refused and logged"

agent_log beta | grep -q 'Option log.max_files set to 6 by uid' || fail "SET not logged"
agent_log beta | grep -q 'Command SET refused for read-only uid' || fail "refused SET not logged"
pass "changes and refusals are logged"
