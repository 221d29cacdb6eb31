"""The verbs' Portuguese words: a Portuguese speaker types the verb in their own language.

Only the verb word has an alias; the rest of the grammar (`with`, `from`, `reason`, …) stays as
help shows it. Kept apart from the registry so help can read it while the registry imports help.
"""

from __future__ import annotations

#: Portuguese word -> verb, so a Portuguese speaker types the verb in their own words; help
#: lists them in both languages. Accents optional: phones add them, keyboards often do not.
ALIASES: dict[str, str] = {
    "ajuda": "help",
    "entrar": "login",
    "sair": "logout",
    "quem-sou": "whoami",
    "quemsou": "whoami",
    "listar": "list",
    "mostrar": "show",
    "acesso": "access",
    "compartilhar": "share",
    "remover": "unshare",
    "descompartilhar": "unshare",
    "atualizar": "update",
    "rotacionar": "rotate",
    "criar": "create",
    "desativar": "disable",
    "ativar": "enable",
    "pedidos": "requests",
    "solicitacoes": "requests",
    "solicitações": "requests",
    "cancelar": "cancel",
    "token-mcp": "mcp-token",
    "chave-de-acesso": "passkey",
}
