import { describe, expect, it } from 'vitest';
import { connectionTarget, describeTarget, effectiveTls } from './url.ts';

describe('a Koha connection URL', () => {
  const koha = (url: string) => connectionTarget('koha', url);

  it('reads host, port, user, password and database, decoding what is escaped', () => {
    expect(koha('mysql://arrears:p%40ss%2Fword@db.example.org:3307/koha_library')).toEqual({
      host: 'db.example.org',
      port: 3307,
      socket: false,
      user: 'arrears',
      password: 'p@ss/word',
      database: 'koha_library',
      tls: null,
      shown: 'mysql://db.example.org:3307/koha_library',
    });
    expect(koha('mariadb://arrears@[::1]/koha')).toMatchObject({ host: '::1', port: 3306, shown: 'mariadb://[::1]/koha' });
  });

  it('connects through a Unix socket when the URL names one, with or without a host', () => {
    const expected = { host: '/run/mysqld/mysqld.sock', socket: true, user: 'koha_arrears', password: 'pw', database: 'koha', shown: 'mysql://localhost/koha (socket /run/mysqld/mysqld.sock)' };
    expect(koha('mysql://koha_arrears:pw@localhost/koha?socket=/run/mysqld/mysqld.sock')).toMatchObject(expected);
    expect(koha('mysql://koha_arrears:pw@/koha?socket=%2Frun%2Fmysqld%2Fmysqld.sock')).toMatchObject(expected);
    expect(() => koha('mysql://koha_arrears:pw@/koha')).toThrow('the URL must name a host (or, for a Unix socket, socket=/run/mysqld/mysqld.sock)');
    expect(() => koha('mysql://a:b@localhost/koha?socket=mysqld.sock')).toThrow("socket=mysqld.sock must be the socket's absolute path");
  });

  it("takes MySQL's ssl-mode, in either case, and refuses PREFERRED, which would fall back to clear text unsaid", () => {
    expect(koha('mysql://a:b@db/koha?ssl-mode=REQUIRED').tls).toBe('no-verify');
    expect(koha('mysql://a:b@db/koha?ssl-mode=verify_identity').tls).toBe('require');
    expect(koha('mysql://a:b@db/koha?sslmode=VERIFY_CA').tls).toBe('require');
    expect(koha('mysql://a:b@db/koha?ssl-mode=DISABLED').tls).toBe('disable');
    expect(() => koha('mysql://a:b@db/koha?ssl-mode=PREFERRED')).toThrow('ssl-mode=PREFERRED would fall back to an unencrypted connection without saying so; say which: REQUIRED (or VERIFY_IDENTITY) or DISABLED');
    expect(() => koha('mysql://a:b@db/koha?ssl-mode=ON')).toThrow('ssl-mode=ON is not a TLS mode; use one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY');
    expect(() => koha('mysql://a:b@db/koha?ssl-mode=REQUIRED&sslmode=DISABLED')).toThrow('the URL gives both ssl-mode and sslmode');
  });

  it('refuses a parameter it does not read, naming it and never its value', () => {
    expect(() => koha('mysql://a:b@db/koha?password=s3cret')).toThrow('the URL\'s parameter "password" is not one Arrears reads (it reads socket, ssl-mode, sslmode; TLS can also be set with --tls)');
    expect(() => koha('mysql://a:b@db/koha?password=s3cret')).not.toThrow(/s3cret/);
    expect(() => koha('mysql://a:b@db/koha?socket=/a&socket=/b')).toThrow('the URL gives "socket" twice');
  });

  it('needs a database and a MySQL scheme', () => {
    expect(() => koha('mysql://a:b@db:3306/')).toThrow('the URL must name a database, e.g. mysql://user:password@host:3306/koha');
    expect(() => koha('postgres://a:b@db/koha')).toThrow('a koha connection URL starts with mysql://');
    expect(() => koha('not a url')).toThrow('not a URL; a koha connection URL looks like mysql://user:password@host:3306/koha');
  });
});

describe('an Evergreen connection URL', () => {
  const eg = (url: string) => connectionTarget('evergreen', url);

  it("reads libpq's forms: a socket directory as host, with or without a host in the URL, and port as a parameter", () => {
    expect(eg('postgres://evergreen@/evergreen?host=/var/run/postgresql')).toMatchObject({ host: '/var/run/postgresql', socket: true, port: 5432, user: 'evergreen', database: 'evergreen' });
    expect(eg('postgresql://evergreen@localhost/evergreen?host=%2Fvar%2Frun%2Fpostgresql&port=5433')).toMatchObject({ host: '/var/run/postgresql', socket: true, port: 5433 });
    expect(eg('postgres://u:p@/evergreen?host=eg-db.example.org')).toMatchObject({ host: 'eg-db.example.org', socket: false, port: 5432, shown: 'postgres://eg-db.example.org/evergreen' });
    expect(() => eg('postgres://u:p@db/evergreen?port=99999')).toThrow('port 99999 is not a port number');
  });

  it("takes libpq's sslmode, and refuses prefer and allow", () => {
    expect(eg('postgres://u:p@db/evergreen?sslmode=verify-full').tls).toBe('require');
    expect(eg('postgres://u:p@db/evergreen?sslmode=verify-ca').tls).toBe('require');
    expect(eg('postgres://u:p@db/evergreen?sslmode=require').tls).toBe('no-verify');
    expect(eg('postgres://u:p@db/evergreen?sslmode=disable').tls).toBe('disable');
    expect(() => eg('postgres://u:p@db/evergreen?sslmode=prefer')).toThrow('sslmode=prefer would fall back to an unencrypted connection without saying so; say which: require (or verify-full) or disable');
    expect(() => eg('postgres://u:p@db/evergreen?sslmode=REQUIRE')).toThrow('sslmode=REQUIRE is not a TLS mode');
    expect(() => eg('postgres://u:p@db/evergreen?target_session_attrs=any')).toThrow('the URL\'s parameter "target_session_attrs" is not one Arrears reads (it reads host, sslmode, port; TLS can also be set with --tls)');
  });
});

describe('what a URL may hold', () => {
  it("reads parameters as libpq and MySQL do, refuses empty ones and a bad escape (naming where, never the text), and takes only digits as a port", () => {
    expect(connectionTarget('koha', 'mysql://a:b@localhost/koha?socket=/run/my+sql.sock').host).toBe('/run/my+sql.sock');
    expect(connectionTarget('evergreen', 'postgres://u:p@%2Fvar%2Frun%2Fpostgresql/evergreen')).toMatchObject({ host: '/var/run/postgresql', socket: true });
    expect(() => connectionTarget('evergreen', 'postgres://u:p@/evergreen?host=')).toThrow('the URL\'s parameter "host" has no value');
    expect(() => connectionTarget('koha', 'mysql://a:s3cret%zz@db/koha')).toThrow('the password in the URL has a "%" not followed by two hex digits; write a "%" itself as %25');
    expect(() => connectionTarget('koha', 'mysql://a:s3cret%zz@db/koha')).not.toThrow(/s3cret/);
    expect(() => connectionTarget('evergreen', 'postgres://u:p@db/evergreen?port=0x10')).toThrow('port 0x10 is not a port number');
    expect(() => connectionTarget('evergreen', 'postgres://u:p@db/evergreen?port=1e3')).toThrow('port 1e3 is not a port number');
    // What Arrears sets itself is passed over, not refused.
    expect(connectionTarget('koha', 'mysql://a:b@db/koha?charset=utf8mb4&timezone=Z').database).toBe('koha');
    expect(connectionTarget('evergreen', 'postgres://u:p@db/evergreen?application_name=x&connect_timeout=5&sslmode=disable').tls).toBe('disable');
  });
});

describe('the TLS a connection uses', () => {
  it('is the option, else the URL; both and different is refused; none over a socket', () => {
    expect(effectiveTls({ tls: null, socket: false }, undefined)).toBeUndefined();
    expect(effectiveTls({ tls: 'disable', socket: false }, undefined)).toBeUndefined();
    expect(effectiveTls({ tls: 'require', socket: false }, undefined)).toBe('require');
    expect(effectiveTls({ tls: null, socket: false }, 'no-verify')).toBe('no-verify');
    expect(effectiveTls({ tls: 'require', socket: false }, 'require')).toBe('require');
    expect(() => effectiveTls({ tls: 'require', socket: false }, 'no-verify')).toThrow("the URL's TLS mode (verify the server) and --tls no-verify disagree; give one of them");
    expect(() => effectiveTls({ tls: 'disable', socket: false }, 'require')).toThrow("the URL's TLS mode (no TLS) and --tls require disagree");
    expect(() => effectiveTls({ tls: null, socket: true }, 'require')).toThrow('TLS is not used over a Unix socket');
    expect(effectiveTls({ tls: 'disable', socket: true }, undefined)).toBeUndefined();
  });
});

describe('describeTarget', () => {
  it('shows where a URL points without its user or password', () => {
    expect(describeTarget('koha', 'mysql://arrears:s3cret@db.example.org:3306/koha')).toBe('mysql://db.example.org:3306/koha');
    expect(describeTarget('evergreen', 'postgres://u:s3cret@/evergreen?host=/var/run/postgresql')).toBe('postgres://localhost/evergreen (socket /var/run/postgresql)');
    expect(describeTarget('koha', 'mysql://arrears:s3cret@db/koha?bogus=1')).toBe('(not a valid URL)');
  });
});
