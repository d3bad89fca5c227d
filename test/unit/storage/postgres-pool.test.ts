import { describe, expect, it } from 'vitest';
import { StoreConnectionError, connectionFailure, redactText, redactUrl } from '../../../src/storage/postgres/index.js';

const URL_ = 'postgres://binbridge:s3cr%40t@db.example:5432/city?sslmode=require&sslpassword=k3y';

describe('store.url in logs and errors', () => {
  it('shows the URL with its password, and password-like parameters, as ***', () => {
    expect(redactUrl(URL_)).toBe('postgres://binbridge:***@db.example:5432/city?sslmode=require&sslpassword=***');
    expect(redactUrl('postgres://db.example/city')).toBe('postgres://db.example/city');
    expect(redactUrl('postgres://u:pw@[::1/x')).toBe('postgres://(not a valid URL)');
  });

  it('takes the password out of any text, encoded or not', () => {
    expect(redactText(`could not connect to ${URL_}: password s3cr@t refused`, URL_)).toBe(
      'could not connect to postgres://binbridge:***@db.example:5432/city?sslmode=require&sslpassword=***: password *** refused',
    );
  });

  it('names a refused connection, a missing database and a failed login; leaves other errors as they are', () => {
    const refused = connectionFailure(Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:5432'), { code: 'ECONNREFUSED' }), URL_);
    expect(refused).toBeInstanceOf(StoreConnectionError);
    expect((refused as Error).message).toBe(
      'cannot use PostgreSQL at postgres://binbridge:***@db.example:5432/city?sslmode=require&sslpassword=*** (connection refused: is PostgreSQL running and listening there?; set store.url or BINBRIDGE_STORE_URL)',
    );
    expect((connectionFailure(Object.assign(new Error('x'), { code: '28P01' }), URL_) as Error).message).toContain('(password authentication failed;');
    expect((connectionFailure(new Error('Connection terminated due to connection timeout'), URL_) as Error).message).toContain('(no connection within the connect timeout;');
    const other = new Error('syntax error');
    expect(connectionFailure(other, URL_)).toBe(other);
  });
});
