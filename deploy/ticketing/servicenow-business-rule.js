// ServiceNow business rule (after insert on sc_req_item): ask the MySafe bot to share an entry.
// System properties: mysafe_bot.url (the bot's base URL) and mysafe_bot.webhook_secret (the same
// value as MYSAFE_BOT_WEBHOOK_SECRET; the bot must run with MYSAFE_BOT_WEBHOOK_AUTH=hmac,token).
(function executeRule(current) {
  var body = {
    event_id: 'snow-' + current.number,
    ticket: { key: String(current.number), url: current.getLink(true) },
    requester: { email: String(current.opened_by.email) },
    action: 'share',
    entry: { kind: String(current.variables.mysafe_kind),
             id: parseInt(current.variables.mysafe_entry_id, 10) },
    users: String(current.variables.mysafe_users).split(',').map(function (name) {
      return { username: name.trim(), can_edit: false };
    }),
    reason: String(current.variables.mysafe_reason)
  };
  var request = new sn_ws.RESTMessageV2();
  request.setEndpoint(gs.getProperty('mysafe_bot.url') + '/webhooks/ticketing');
  request.setHttpMethod('post');
  request.setRequestHeader('Content-Type', 'application/json');
  request.setRequestHeader('Authorization', 'Bearer ' + gs.getProperty('mysafe_bot.webhook_secret'));
  request.setRequestBody(JSON.stringify(body));
  var response = request.execute();
  if (response.getStatusCode() >= 300) {
    gs.error('MySafe bot refused ' + current.number + ': ' + response.getBody());
  }
})(current);
