// The controller's one logger factory: winston, JSON lines, a child per reconcile with {namespace, name}.
import winston from 'winston';

export type Logger = winston.Logger;

export function createLogger(level = process.env['LOG_LEVEL'] ?? 'info', silent = false): Logger {
  return winston.createLogger({
    level,
    silent,
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json()),
    defaultMeta: { component: 'controller' },
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })],
  });
}
